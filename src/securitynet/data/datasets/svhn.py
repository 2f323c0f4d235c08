"""SVHN (cropped digits), read from the `.mat` files that torchvision's SVHN class downloads into a root
(`train_32x32.mat`, `test_32x32.mat`, `extra_32x32.mat`; a test checks the names against torchvision's)."""

from __future__ import annotations

import numpy as np

from securitynet.data.locate import FileSetLoader, Located
from securitynet.data.registry import DatasetInfo, register_dataset
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError


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
    return ArraySplit(
        images=np.ascontiguousarray(x.transpose(3, 0, 1, 2)),
        labels=y,
        dataset=info.name,
        split=split,
        indices=np.arange(len(y), dtype=np.int64),
        source=located.describe(),
    )


SVHN_INFO = register_dataset(
    DatasetInfo(
        name="svhn",
        num_classes=10,
        category="natural",
        image_shape=(32, 32, 3),
        splits=("train", "test", "extra"),
        member_splits=("train",),
        nonmember_split="test",
        split_sizes={"train": 73_257, "test": 26_032, "extra": 531_131},
        license="non-commercial use only (Netzer et al. 2011)",
        homepage="http://ufldl.stanford.edu/housenumbers/",
        description=(
            "Street View House Numbers, cropped digits: 32x32 colour, 10 classes (label 10 of the files is "
            "digit 0), 73,257 train / 26,032 test / 531,131 extra."
        ),
        loader=FileSetLoader(
            folders=("", "svhn", "SVHN"),
            files={split: ((f"{split}_32x32.mat",),) for split in ("train", "test", "extra")},
            reader=read_svhn_mat,
        ),
        downloadable=True,
    )
)
