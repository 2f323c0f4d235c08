"""MedMNIST v2/v3, 2D and 3D, described by the `medmnist` package's own INFO table.

Every flag of `medmnist.INFO` is registered at 28 px under its flag (`pathmnist`, `adrenalmnist3d`, ...) and
at every larger size the INFO table lists under `<flag>_<size>` (`pathmnist_224`, `adrenalmnist3d_64`), read
from the official files `<flag>.npz` / `<flag>_<size>.npz` (the names the package downloads) in a data root,
its `medmnist/` subfolder, or the package's default root `~/.medmnist`.

Split sizes are checked against INFO, so a modified file cannot pose as the official one. The offline
`pneumoniamnist_reduced_train.npz` (training split cut to 3,882 images by its uploader) is registered
separately as `pneumoniamnist_reduced` and is never read as `pneumoniamnist`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from securitynet.data.formats.npz import read_npz_array
from securitynet.data.locate import FileSetLoader, Located
from securitynet.data.registry import DatasetInfo, register_dataset
from securitynet.data.split import ArraySplit, class_numbers
from securitynet.errors import DatasetError


def _medmnist_info() -> ModuleType:
    """`medmnist.info` alone: importing the package itself pulls in torch and scikit-learn, slow for a listing."""
    if "medmnist.info" in sys.modules:
        return sys.modules["medmnist.info"]
    spec = importlib.util.find_spec("medmnist")
    if spec is None or spec.origin is None:
        raise ImportError("the medmnist package is not installed")
    info_path = Path(spec.origin).parent / "info.py"
    info_spec = importlib.util.spec_from_file_location("securitynet_medmnist_info", info_path)
    module = importlib.util.module_from_spec(info_spec)
    info_spec.loader.exec_module(module)
    return module


_INFO_MODULE = _medmnist_info()
INFO: dict = _INFO_MODULE.INFO
DEFAULT_ROOT = _INFO_MODULE.DEFAULT_ROOT or str(Path("~/.medmnist").expanduser())
SPLITS = ("train", "val", "test")
_FOLDERS = ("", "medmnist", "MedMNIST")


def is_3d(flag: str) -> bool:
    return flag.endswith("3d")


def sizes_of(flag: str) -> list[int]:
    """Image sizes of a flag: 28 plus every `url_<size>` in INFO."""
    sizes = [28]
    for key in INFO[flag]:
        if key.startswith("url_") and key[4:].isdigit():
            sizes.append(int(key[4:]))
    return sorted(set(sizes))


def file_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


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
    return ArraySplit(
        images=images,
        labels=labels,
        dataset=info.name,
        split=split,
        indices=np.arange(len(images), dtype=np.int64),
        source=located.describe(),
    )


def _image_shape(flag: str, size: int) -> tuple[int, ...]:
    if is_3d(flag):
        return (size, size, size)
    channels = INFO[flag]["n_channels"]
    return (size, size) if channels == 1 else (size, size, channels)


def _class_names(flag: str) -> tuple[str, ...]:
    labels = INFO[flag]["label"]
    return tuple(labels[str(i)] for i in range(len(labels)))


def _register(flag: str, size: int) -> DatasetInfo:
    meta = INFO[flag]
    name = flag if size == 28 else f"{flag}_{size}"
    kind = "3D volumes" if is_3d(flag) else "2D images"
    return register_dataset(
        DatasetInfo(
            name=name,
            num_classes=len(meta["label"]),
            category="medical",
            image_shape=_image_shape(flag, size),
            layout="volume" if is_3d(flag) else "",
            splits=SPLITS,
            member_splits=("train",),
            nonmember_split="test",
            split_sizes=dict(meta["n_samples"]),
            task=meta["task"],
            license=meta["license"],
            homepage="https://medmnist.com/",
            description=(
                f"{meta['python_class']} (MedMNIST, {kind} at {size} px, {meta['task']}): {meta['description']}"
            ),
            loader=FileSetLoader(
                folders=_FOLDERS,
                files={split: ((file_name(flag, size),),) for split in SPLITS},
                reader=read_medmnist_npz,
                extra_roots=(Path(DEFAULT_ROOT),),
            ),
            class_names=_class_names(flag),
            downloadable=True,
            extra={
                "medmnist_flag": flag,
                "size": size,
                "url": meta["url" if size == 28 else f"url_{size}"],
                "md5": meta["MD5" if size == 28 else f"MD5_{size}"],
            },
        )
    )


for _flag in INFO:
    for _size in sizes_of(_flag):
        _register(_flag, _size)


PNEUMONIAMNIST_REDUCED = register_dataset(
    DatasetInfo(
        name="pneumoniamnist_reduced",
        num_classes=2,
        category="medical",
        image_shape=(28, 28),
        splits=SPLITS,
        member_splits=("train",),
        nonmember_split="test",
        split_sizes={"train": 3_882, "val": 524, "test": 624},
        task="binary-class",
        license="CC BY 4.0 (MedMNIST)",
        homepage="https://github.com/varun19424/pneumonia_mnist",
        description=(
            "NOT the official PneumoniaMNIST: a copy whose training split its uploader (varun19424/pneumonia_mnist) "
            "cut from 4,708 to 3,882 images; val (524) and test (624) have the official sizes. Models trained on "
            "official PneumoniaMNIST may have seen training images that are missing here."
        ),
        loader=FileSetLoader(
            folders=_FOLDERS,
            files={split: (("pneumoniamnist_reduced_train.npz",),) for split in SPLITS},
            reader=read_medmnist_npz,
        ),
        class_names=_class_names("pneumoniamnist"),
        official=False,
        how_to_get="this file exists only in ../shared/data/medmnist",
    )
)
