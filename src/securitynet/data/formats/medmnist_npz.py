"""MedMNIST's npz files: one file holds every split as `<split>_images` and `<split>_labels`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.formats.npz import read_npz_array
from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, class_numbers, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo


def read_medmnist_npz(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    (path,) = located.files
    images = read_npz_array(path, f"{split}_images")
    labels = read_npz_array(path, f"{split}_labels")
    if images.dtype != np.uint8 or tuple(images.shape[1:]) != tuple(info.image_shape):
        raise DatasetError(
            f"{path}: {split}_images should be uint8 {('N', *info.image_shape)}, got {images.dtype} {images.shape}"
        )
    labels = class_numbers(labels, f"{path}: {split}_labels")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    elif not (info.task.startswith("multi-label") and labels.ndim == 2 and labels.shape[1] == info.num_classes):
        raise DatasetError(f"{path}: {split}_labels of shape {labels.shape} do not fit task {info.task!r}")
    if len(labels) != len(images):
        raise DatasetError(f"{path}: {len(labels)} {split}_labels for {len(images)} images")
    return whole_split(images, labels, info.name, split, located.describe())
