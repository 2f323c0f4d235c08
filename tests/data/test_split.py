"""ArraySplit: validation, aligned subsets, fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from securitynet.data import ArraySplit, DatasetError


def _split(n: int = 10, groups: bool = False, source: str = "fixture") -> ArraySplit:
    rng = np.random.default_rng(0)
    return ArraySplit(
        images=rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8),
        labels=np.arange(n) % 3,
        dataset="toy",
        split="train",
        indices=np.arange(100, 100 + n),
        groups=(np.arange(n) // 2) if groups else None,
        source=source,
    )


def test_subset_keeps_images_labels_indices_and_groups_aligned() -> None:
    split = _split(groups=True)
    part = split.subset([7, 2, 5])
    assert len(part) == 3
    np.testing.assert_array_equal(part.images, split.images[[7, 2, 5]])
    np.testing.assert_array_equal(part.labels, [1, 2, 2])
    np.testing.assert_array_equal(part.indices, [107, 102, 105])
    np.testing.assert_array_equal(part.groups, [3, 1, 2])
    assert (part.dataset, part.split, part.source) == ("toy", "train", "fixture")
    nested = part.subset(np.array([False, True, True]))
    np.testing.assert_array_equal(nested.indices, [102, 105])


def test_positions_of_maps_source_indices_back() -> None:
    split = _split().subset([9, 3, 5])
    np.testing.assert_array_equal(split.positions_of([105, 109]), [2, 0])
    with pytest.raises(DatasetError, match="not in this split"):
        split.positions_of([104])


def test_fingerprint_depends_on_indices_and_source() -> None:
    split = _split()
    assert split.fingerprint() == _split().fingerprint()
    assert len(split.fingerprint()) == 16
    assert split.subset([0, 1]).fingerprint() != split.subset([0, 2]).fingerprint()
    assert _split(source="other file").fingerprint() != split.fingerprint()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"images": np.zeros((3, 4, 4), dtype=np.float32)}, "uint8"),
        ({"images": np.zeros((3, 4), dtype=np.uint8)}, "shape"),
        ({"labels": np.zeros(2, dtype=np.int64)}, "2 labels for 3 images"),
        ({"labels": np.zeros(3, dtype=np.float64)}, "integers"),
    ],
)
def test_malformed_splits_are_refused(change: dict, message: str) -> None:
    fields = dict(images=np.zeros((3, 4, 4), dtype=np.uint8), labels=np.zeros(3, dtype=np.int64), dataset="toy",
                  split="test", indices=np.arange(3))
    fields.update(change)
    with pytest.raises(DatasetError, match=message):
        ArraySplit(**fields)


def test_labels_and_indices_become_int64() -> None:
    images = np.zeros((2, 3, 3), np.uint8)
    split = ArraySplit(images, np.array([1, 0], np.uint8), "toy", "test", np.array([0, 1], np.int32))
    assert split.labels.dtype == np.int64 and split.indices.dtype == np.int64
