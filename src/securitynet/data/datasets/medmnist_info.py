"""MedMNIST v2/v3, 2D and 3D, as the `medmnist` package's own INFO table describes them.

Every flag of `medmnist.INFO` is registered (by `datasets.table`) at 28 px under its flag (`pathmnist`,
`adrenalmnist3d`, ...) and at every larger size the INFO table lists under `<flag>_<size>` (`pathmnist_224`,
`adrenalmnist3d_64`), read from the official files `<flag>.npz` / `<flag>_<size>.npz` (the names the package
downloads) in a data root, its `medmnist/` subfolder, or the package's default root `~/.medmnist`.

Split sizes are checked against INFO, so a modified file cannot pose as the official one. The offline
`pneumoniamnist_reduced_train.npz` (training split cut to 3,882 images by its uploader) is registered
separately as `pneumoniamnist_reduced` and is never read as `pneumoniamnist`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


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


def image_shape(flag: str, size: int) -> tuple[int, ...]:
    if is_3d(flag):
        return (size, size, size)
    channels = INFO[flag]["n_channels"]
    return (size, size) if channels == 1 else (size, size, channels)


def class_names(flag: str) -> tuple[str, ...]:
    labels = INFO[flag]["label"]
    return tuple(labels[str(i)] for i in range(len(labels)))
