"""scikit-learn digits (fixed split, uint8 scaling) and the foolbox sample sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from securitynet.data import load_split
from securitynet.data.formats.sklearn_digits import original_indices, scale_to_uint8


def test_digits_split_is_fixed_disjoint_and_stratified() -> None:
    from sklearn.datasets import load_digits

    train, test = load_split("digits", "train"), load_split("digits", "test")
    assert (len(train), len(test)) == (898, 899)
    assert train.images.shape == (898, 8, 8) and train.images.dtype == np.uint8
    a, b = original_indices("train"), original_indices("test")
    assert not set(a) & set(b) and len(set(a) | set(b)) == 1797
    counts = np.bincount(train.labels, minlength=10) - np.bincount(test.labels, minlength=10)
    assert np.all(np.abs(counts) <= 1)
    bunch = load_digits()
    np.testing.assert_array_equal(test.labels, bunch.target[b])
    np.testing.assert_array_equal(test.images, scale_to_uint8(bunch.images[b]))
    # The documented split: stratified half/half with random_state=0, so it never changes between runs.
    from sklearn.model_selection import train_test_split

    expected_train, expected_test = train_test_split(
        np.arange(1797), test_size=0.5, stratify=bunch.target, random_state=0
    )
    np.testing.assert_array_equal(a, np.sort(expected_train))
    np.testing.assert_array_equal(b, np.sort(expected_test))


def test_digits_values_are_scaled_from_0_16_to_0_255() -> None:
    assert scale_to_uint8(np.array([0, 8, 16])).tolist() == [0, 128, 255]
    train = load_split("digits", "train")
    assert train.images.max() == 255 and train.images.min() == 0


def test_foolbox_samples_take_labels_from_file_names(shared_data: Path) -> None:
    mnist = load_split("samples_mnist", "test", roots=[shared_data])
    assert mnist.images.shape == (20, 28, 28)
    assert mnist.labels[:5].tolist() == [7, 2, 1, 0, 4]  # mnist_00_7.png, mnist_01_2.png, ...
    cifar = load_split("samples_cifar100", "test", roots=[shared_data])
    assert cifar.images.shape == (20, 32, 32, 3) and cifar.labels[0] == 49
    imagenet = load_split("samples_imagenet", "val", roots=[shared_data])
    assert imagenet.images.shape == (20, 224, 224, 3) and imagenet.labels[0] == 243


def test_samples_from_another_folder(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    for number, label in ((1, 3), (0, 8)):
        Image.fromarray(np.full((28, 28), number * 100, np.uint8)).save(folder / f"mnist_{number:02d}_{label}.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / "fashionMNIST_00_1.png")
    split = load_split("samples_mnist", "test", roots=[tmp_path])
    assert split.indices.tolist() == [0, 1] and split.labels.tolist() == [8, 3]
    assert split.images[1, 0, 0] == 100
