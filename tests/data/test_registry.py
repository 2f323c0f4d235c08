"""The registry: names, errors that say what to do, member-split resolution, the per-process cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.data import (
    DatasetError,
    get_dataset,
    list_datasets,
    load_split,
    resolve_member_split,
)
from securitynet.data.formats.idx import write_idx


def test_contract_names_are_registered() -> None:
    names = {info.name for info in list_datasets()}
    expected = {"mnist", "fashionmnist", "cifar10", "cifar100", "svhn", "gtsrb", "cub200", "imagenet", "digits",
                "pathmnist", "chestmnist", "breastmnist", "adrenalmnist3d", "adrenalmnist3d_64", "pathmnist_224",
                "pneumoniamnist_reduced", "samples_mnist", "samples_imagenet"}
    assert expected <= names
    assert all(name == name.lower() for name in names)
    assert {info.category for info in list_datasets("medical")} == {"medical"}


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset 'nosuch'.*cifar10.*mnist"):
        get_dataset("nosuch")


def test_unknown_split_names_dataset_and_valid_splits() -> None:
    with pytest.raises(DatasetError, match=r"'mnist' has no split 'validation'.*train, test, train_subset_5k"):
        load_split("mnist", "validation")


def test_absent_files_name_files_folders_and_how_to_provide(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_split("cifar10", "test", roots=[tmp_path])
    message = str(err.value)
    assert "cifar-10-batches-py/test_batch" in message
    assert str(tmp_path) in message
    assert "SECURITYNET_DATA" in message and "securitynet data download cifar10" in message


def test_environment_variable_roots_are_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((10_000, 28, 28), np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(10_000, 3, np.uint8))
    monkeypatch.setenv("SECURITYNET_DATA", str(tmp_path))
    monkeypatch.delenv("SECURITYNET_SHARED_DATA", raising=False)
    test = load_split("mnist", "test")
    assert str(tmp_path) in test.source and np.all(test.labels == 3)


def test_member_split_prefers_full_train_and_records_why(tmp_path: Path, shared_data: Path) -> None:
    split, reason = resolve_member_split("mnist", roots=[shared_data])
    assert split == "train_subset_5k"
    assert "'train' is absent" in reason and "mnist_5k_train_subset.csv.gz" in reason
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    split, reason = resolve_member_split("mnist", roots=[tmp_path, shared_data])
    assert split == "train" and "preferred" in reason


def test_loaded_arrays_are_cached_and_read_only(shared_data: Path) -> None:
    first = load_split("breastmnist", "test", roots=[shared_data])
    assert load_split("breastmnist", "test", roots=[shared_data]) is first
    with pytest.raises(ValueError):
        first.images[0, 0, 0] = 1
    copy = first.subset(np.arange(3))
    copy.images[0, 0, 0] = 1  # subsets are private copies


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((10_000, 28, 28), np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(10_000, np.uint8))
    assert load_split("mnist", "test", roots=[tmp_path]).labels.max() == 0
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(10_000, 7, np.uint8))
    assert load_split("mnist", "test", roots=[tmp_path]).labels.min() == 7


def test_wrong_number_of_images_is_not_accepted_as_official(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((50, 28, 28), np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(50, np.uint8))
    with pytest.raises(DatasetError, match="holds 50 images, the official split has 10000"):
        load_split("mnist", "test", roots=[tmp_path])


def test_labels_outside_the_classes_are_refused(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((10_000, 28, 28), np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(10_000, 11, np.uint8))
    with pytest.raises(DatasetError, match="outside 0..9"):
        load_split("mnist", "test", roots=[tmp_path])
