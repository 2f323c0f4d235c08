"""MedMNIST through the medmnist package's INFO: official sizes, sized variants, 3D volumes, the unofficial copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from securitynet.data import DatasetError, get_dataset, load_split
from securitynet.data.formats.npz import read_npz_array


def test_breastmnist_has_the_official_sizes(shared_data: Path) -> None:
    sizes = {split: len(load_split("breastmnist", split, roots=[shared_data])) for split in ("train", "val", "test")}
    assert sizes == {"train": 546, "val": 78, "test": 156}
    test = load_split("breastmnist", "test", roots=[shared_data])
    assert test.images.shape == (156, 28, 28) and test.images.dtype == np.uint8
    assert test.labels.ndim == 1 and set(np.unique(test.labels)) == {0, 1}


def test_registry_mirrors_the_medmnist_info_table() -> None:
    from medmnist import INFO

    for flag, meta in INFO.items():
        info = get_dataset(flag)
        assert info.num_classes == len(meta["label"]) and dict(info.split_sizes) == meta["n_samples"]
        assert info.extra["md5"] == meta["MD5"]
    assert get_dataset("pathmnist").image_shape == (28, 28, 3)
    assert get_dataset("pathmnist_224").image_shape == (224, 224, 3)
    assert get_dataset("adrenalmnist3d_64").image_shape == (64, 64, 64)
    assert get_dataset("adrenalmnist3d").layout == "volume" and get_dataset("retinamnist").layout == "colour"
    assert get_dataset("chestmnist").task.startswith("multi-label")


def test_3d_volumes_load_in_the_natural_layout(shared_data: Path) -> None:
    val = load_split("adrenalmnist3d_64", "val", roots=[shared_data])
    assert val.images.shape == (98, 64, 64, 64) and val.images.dtype == np.uint8


def test_the_reduced_pneumoniamnist_is_its_own_unofficial_dataset(shared_data: Path) -> None:
    reduced = get_dataset("pneumoniamnist_reduced")
    assert not reduced.official and "NOT the official" in reduced.description
    assert len(load_split("pneumoniamnist_reduced", "train", roots=[shared_data])) == 3_882
    # The official name never picks the reduced file up.
    assert get_dataset("pneumoniamnist").locate("train", roots=[shared_data]) is None


def test_a_modified_file_under_the_official_name_is_refused(shared_data: Path, tmp_path: Path) -> None:
    shutil.copy(shared_data / "medmnist" / "pneumoniamnist_reduced_train.npz", tmp_path / "pneumoniamnist.npz")
    with pytest.raises(DatasetError, match="holds 3882 images, the official split has 4708"):
        load_split("pneumoniamnist", "train", roots=[tmp_path])
    # Its val split has the official size, so on its own it is not refused.
    assert len(load_split("pneumoniamnist", "val", roots=[tmp_path])) == 524


def test_multi_label_sets_keep_all_labels(tmp_path: Path, variant) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 14), dtype=np.uint8)
    np.savez_compressed(tmp_path / "chestmnist.npz", **arrays)
    variant("chestmnist", "chestmnist_fixture", split_sizes=None)
    test = load_split("chestmnist_fixture", "test", roots=[tmp_path])
    assert test.labels.shape == (3, 14)
    np.testing.assert_array_equal(test.labels, arrays["test_labels"].astype(np.int64))


def test_large_npz_members_are_memory_mapped_from_the_cache(tmp_path: Path, isolated_cache: Path) -> None:
    volume = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 16), dtype=np.uint8)
    np.savez_compressed(tmp_path / "big.npz", train_images=volume)
    mapped = read_npz_array(tmp_path / "big.npz", "train_images", large_bytes=1_000)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, volume)
    assert not list(isolated_cache.rglob("*.part"))  # nothing half-written left
    small = read_npz_array(tmp_path / "big.npz", "train_images")
    assert not isinstance(small, np.memmap)
    np.testing.assert_array_equal(small, volume)


def test_pickled_npz_members_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "evil.npz", train_images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match="Python objects"):
        read_npz_array(tmp_path / "evil.npz", "train_images")
