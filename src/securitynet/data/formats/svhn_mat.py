"""SVHN's MATLAB files (`train_32x32.mat`, ...): `X` (32, 32, 3, N) uint8 and `y` (N, 1) with 10 for the digit 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo


def read_svhn_mat(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    import scipy.io

    (path,) = located.files
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise DatasetError(f"{path}: not a readable SVHN .mat file ({type(exc).__name__}: {exc})") from exc
    if "X" not in mat or "y" not in mat:
        raise DatasetError(f"{path}: an SVHN file holds 'X' and 'y'")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DatasetError(f"{path}: expected X uint8 (32, 32, 3, N) with N labels, got {x.dtype} {x.shape}")
    # The files label the digit 0 as 10; torchvision (and every SVHN model) uses 0.
    y[y == 10] = 0
    return whole_split(np.ascontiguousarray(x.transpose(3, 0, 1, 2)), y, info.name, split, located.describe())
