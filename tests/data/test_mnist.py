"""MNIST / Fashion-MNIST: the offline files, IDX parsing, torchvision's folder layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from securitynet.data import DatasetError, load_split
from securitynet.data.formats.idx import read_idx, write_idx

# Published class counts of the MNIST test set (digits 0..9).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_test_split_is_the_full_t10k_set(shared_data: Path) -> None:
    test = load_split("mnist", "test", roots=[shared_data])
    assert test.images.shape == (10_000, 28, 28) and test.images.dtype == np.uint8
    assert test.labels.dtype == np.int64
    assert np.bincount(test.labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    np.testing.assert_array_equal(test.indices, np.arange(10_000))
    assert "t10k-images-idx3-ubyte.gz" in test.source


def test_mnist_5k_training_subset_has_500_per_class(shared_data: Path) -> None:
    subset = load_split("mnist", "train_subset_5k", roots=[shared_data])
    assert subset.images.shape == (5_000, 28, 28) and subset.images.dtype == np.uint8
    assert np.bincount(subset.labels, minlength=10).tolist() == [500] * 10
    # Real digits: mostly black background, some white strokes.
    assert subset.images.max() == 255 and np.mean(subset.images == 0) > 0.7


def test_the_5k_subset_shares_no_image_with_the_test_set(shared_data: Path) -> None:
    subset = load_split("mnist", "train_subset_5k", roots=[shared_data])
    test = load_split("mnist", "test", roots=[shared_data])
    train_rows = {row.tobytes() for row in subset.images.reshape(len(subset), -1)}
    assert not any(row.tobytes() in train_rows for row in test.images.reshape(len(test), -1))


@pytest.mark.parametrize("name", ["labels.idx", "labels.idx.gz"])
def test_idx_round_trip_plain_and_gzipped(tmp_path: Path, name: str) -> None:
    array = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    np.testing.assert_array_equal(read_idx(tmp_path / name), array)
    wide = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    write_idx(tmp_path / "wide.idx", wide)
    np.testing.assert_array_equal(read_idx(tmp_path / "wide.idx"), wide)


def test_truncated_and_foreign_idx_files_are_refused(tmp_path: Path) -> None:
    write_idx(tmp_path / "full.idx", np.zeros((4, 28, 28), np.uint8))
    data = (tmp_path / "full.idx").read_bytes()
    (tmp_path / "cut.idx").write_bytes(data[:-10])
    with pytest.raises(DatasetError, match="promises"):
        read_idx(tmp_path / "cut.idx")
    (tmp_path / "text.idx").write_bytes(b"hello world")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "text.idx")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(data)[:-20])
    with pytest.raises(DatasetError, match="corrupt"):
        read_idx(tmp_path / "broken.gz")


def test_torchvision_layout_is_read(tmp_path: Path, variant) -> None:
    """What torchvision's FashionMNIST(root, download=True) leaves: FashionMNIST/raw/ with plain and .gz files."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.random.default_rng(1).integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.arange(30, dtype=np.uint8) % 10
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    write_idx(raw / "train-images-idx3-ubyte.gz", np.zeros_like(images))  # plain files win, as torchvision reads them
    write_idx(raw / "train-labels-idx1-ubyte.gz", labels)
    variant("fashionmnist", "fashionmnist_fixture", split_sizes=None)
    train = load_split("fashionmnist_fixture", "train", roots=[tmp_path])
    np.testing.assert_array_equal(train.images, images)
    np.testing.assert_array_equal(train.labels, labels.astype(np.int64))
    assert "FashionMNIST/raw/train-images-idx3-ubyte +" in train.source


def test_images_and_labels_of_different_length_are_refused(tmp_path: Path, variant) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    variant("mnist", "mnist_fixture", split_sizes=None)
    with pytest.raises(DatasetError, match="labels for 5 images"):
        load_split("mnist_fixture", "test", roots=[tmp_path])
