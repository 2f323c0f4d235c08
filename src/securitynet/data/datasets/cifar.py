"""CIFAR-10 and CIFAR-100, read from the "python version" batches that torchvision downloads and unpacks.

The file names are those torchvision's CIFAR10/CIFAR100 classes write under a root (`cifar-10-batches-py/`,
`cifar-100-python/`); they are spelled out here so that listing datasets does not import torchvision, and
a test checks them against torchvision's own `train_list` / `test_list`.
"""

from __future__ import annotations

import numpy as np

from securitynet.data.formats.cifar_pickle import read_batches
from securitynet.data.locate import FileSetLoader, Located
from securitynet.data.registry import DatasetInfo, register_dataset
from securitynet.data.split import ArraySplit

# base folder, training batch files, test batch files (as torchvision's CIFAR10 / CIFAR100 name them)
CIFAR10_FILES = ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",))
CIFAR100_FILES = ("cifar-100-python", ("train",), ("test",))


def _files(layout: tuple[str, tuple[str, ...], tuple[str, ...]]) -> dict[str, tuple[tuple[str, ...], ...]]:
    base, train, test = layout
    return {"train": (tuple(f"{base}/{n}" for n in train),), "test": (tuple(f"{base}/{n}" for n in test),)}


def _reader(label_key: str):
    def read(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
        images, labels = read_batches(list(located.files), label_key)
        return ArraySplit(
            images=images,
            labels=labels,
            dataset=info.name,
            split=split,
            indices=np.arange(len(images), dtype=np.int64),
            source=located.describe(),
        )

    return read


CIFAR10_INFO = register_dataset(
    DatasetInfo(
        name="cifar10",
        num_classes=10,
        category="natural",
        image_shape=(32, 32, 3),
        splits=("train", "test"),
        member_splits=("train",),
        nonmember_split="test",
        split_sizes={"train": 50_000, "test": 10_000},
        license="unspecified (Krizhevsky 2009; free for research use)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        description="CIFAR-10: 32x32 colour images of 10 classes, 50,000 train / 10,000 test.",
        loader=FileSetLoader(
            folders=("", "cifar10", "CIFAR10", "cifar-10"), files=_files(CIFAR10_FILES), reader=_reader("labels")
        ),
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        downloadable=True,
    )
)

CIFAR100_INFO = register_dataset(
    DatasetInfo(
        name="cifar100",
        num_classes=100,
        category="natural",
        image_shape=(32, 32, 3),
        splits=("train", "test"),
        member_splits=("train",),
        nonmember_split="test",
        split_sizes={"train": 50_000, "test": 10_000},
        license="unspecified (Krizhevsky 2009; free for research use)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        description="CIFAR-100: 32x32 colour images of 100 fine classes, 50,000 train / 10,000 test.",
        loader=FileSetLoader(
            folders=("", "cifar100", "CIFAR100", "cifar-100"),
            files=_files(CIFAR100_FILES),
            reader=_reader("fine_labels"),
        ),
        downloadable=True,
    )
)
