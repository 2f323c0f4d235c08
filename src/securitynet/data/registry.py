"""The dataset registry: what each dataset is, which splits it has, and one cached way to load a split.

Datasets come from the plug-ins of the ``securitynet.datasets`` group (`securitynet.plugins`), which the
`securitynet.data` package loads once this module is loaded (so this module never imports them, and imports
flow one way): the built-in `securitynet.data.datasets`, one table (`securitynet.data.datasets.table`,
readers in `securitynet.data.formats`) registered on import (``BUILTIN_PLUGINS``, declared the same in
pyproject.toml), and installed packages' entry points naming a module that calls `register_dataset`, a
`DatasetInfo` or a list of them (see docs/plugins.md). `register_dataset` adds more at run time (for example
a local dataset with the same layout).
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from securitynet import plugins
from securitynet.data.locate import Located, SplitLoader, resolve_roots
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError, PluginConflictError

# Arrays read from disk are kept per process: attacks load the same split many times.
_CACHE_SIZE = 16
ENTRY_POINT_GROUP = plugins.DATASETS
# The built-in datasets: the same as [project.entry-points."securitynet.datasets"] in pyproject.toml.
BUILTIN_PLUGINS: dict[str, str] = {"builtin": "securitynet.data.datasets"}


class DatasetConflictError(DatasetError, PluginConflictError):
    """Two datasets claim one name."""


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """What a dataset is and where its splits come from.

    member_splits     splits a model of this dataset is trained on, in order of preference; the first one
                      whose files are present is `member_split` (MNIST: the full "train" when a root has it,
                      else the 5,000-image "train_subset_5k"). Empty when no training split is available.
    nonmember_split   a held-out split, never seen in training, for non-members and test accuracy.
    layout            "grey" (H, W), "colour" (H, W, C) or "volume" (D, H, W), the natural layout of one image.
    split_sizes       official number of images per split; a file with another count is refused as not
                      being the official one (None: not checked).
    task              "multi-class", "binary-class", "ordinal-regression" or "multi-label, binary-class";
                      only multi-label datasets have (N, L) labels.
    """

    name: str
    num_classes: int
    category: str
    image_shape: tuple[int, ...]
    splits: tuple[str, ...]
    member_splits: tuple[str, ...]
    nonmember_split: str | None
    license: str
    description: str
    loader: SplitLoader
    split_sizes: Mapping[str, int] | None = None
    task: str = "multi-class"
    class_names: tuple[str, ...] | None = None
    homepage: str = ""
    how_to_get: str = ""
    downloadable: bool = False
    official: bool = True
    layout: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layout:  # (H, W) grey, (H, W, C) colour, (D, H, W) volume
            rank = len(self.image_shape)
            layout = "grey" if rank == 2 else "colour" if rank == 3 and self.image_shape[-1] in (1, 3, 4) else "volume"
            object.__setattr__(self, "layout", layout)
        if self.layout not in ("grey", "colour", "volume"):
            raise DatasetError(f"dataset {self.name!r}: layout must be grey, colour or volume, got {self.layout!r}")

    @property
    def member_split(self) -> str | None:
        """The split models are trained on, resolved against the default data roots (see `resolve_member_split`)."""
        return resolve_member_split(self)[0]

    def locate(self, split: str, roots: Iterable[str | os.PathLike[str]] | None = None) -> Located | None:
        """The files of `split` under the roots, or None when absent (`locate_split` raises instead)."""
        _check_split(self, split)
        return self.loader.locate(self, split, resolve_roots(roots))


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Add a dataset to the registry. Names are lowercase; re-registering a name needs replace=True."""
    if info.name != info.name.lower() or not info.name:
        raise DatasetError(f"dataset names are lowercase and non-empty, got {info.name!r}")
    if info.name in _REGISTRY and not replace:
        raise DatasetConflictError(f"dataset {info.name!r} is already registered")
    unknown = [s for s in (*info.member_splits, info.nonmember_split) if s is not None and s not in info.splits]
    if unknown:
        raise DatasetError(f"dataset {info.name!r}: member/non-member splits {unknown} are not among {info.splits}")
    _REGISTRY[info.name] = info
    return info


def _register_plugin(plugin: plugins.Plugin, obj: Any) -> list[str] | None:
    """A module registered its datasets when imported; a DatasetInfo, or a list of them, is registered here."""
    if isinstance(obj, ModuleType):
        return None  # what the registry gained while it loaded
    infos = [obj] if isinstance(obj, DatasetInfo) else list(obj) if isinstance(obj, list | tuple) else [None]
    if not all(isinstance(info, DatasetInfo) for info in infos):
        raise plugins.not_a_plugin(plugin, obj, "a module, a DatasetInfo or a list of them")
    return [register_dataset(info).name for info in infos]


def load_dataset_plugins(*, reload: bool = False) -> None:
    """Load the dataset plug-ins once (built-in, then installed); `securitynet.data` does it on import."""
    plugins.load_once(ENTRY_POINT_GROUP, BUILTIN_PLUGINS, _register_plugin, names=lambda: _REGISTRY, reload=reload)


def get_dataset(name: str | DatasetInfo) -> DatasetInfo:
    """The registered dataset `name`; an unknown name raises DatasetError listing the known ones."""
    if isinstance(name, DatasetInfo):
        return name
    key = str(name).strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    known = ", ".join(sorted(_REGISTRY))
    raise DatasetError(f"unknown dataset {name!r}; known datasets: {known}")


def list_datasets(category: str | None = None) -> list[DatasetInfo]:
    """All registered datasets, sorted by name, optionally only one category ("natural", "medical", ...)."""
    infos = sorted(_REGISTRY.values(), key=lambda i: i.name)
    return [i for i in infos if category is None or i.category == category]


def _check_split(info: DatasetInfo, split: str) -> None:
    if split not in info.splits:
        raise DatasetError(f"dataset {info.name!r} has no split {split!r}; its splits are: {', '.join(info.splits)}")


def absent_message(info: DatasetInfo, split: str, roots: tuple[Path, ...]) -> str:
    wanted = "; ".join(info.loader.looked_for(info, split)) or "(nothing)"
    folders = ", ".join(str(r) for r in roots) or "(no folders: SECURITYNET_DATA is unset and ../shared/data absent)"
    how = [f"put the files in a folder and add it to SECURITYNET_DATA (folders separated by {os.pathsep!r})",
           "or pass roots=[folder]"]
    if info.downloadable:
        how.insert(0, f"run `securitynet data download {info.name}` (needs internet)")
    if info.how_to_get:
        how.append(info.how_to_get)
    return (
        f"dataset {info.name!r} split {split!r} not found. Looked for: {wanted}. "
        f"Searched folders: {folders}. To provide it: {'; '.join(how)}."
    )


def locate_split(name: str | DatasetInfo, split: str, roots: Iterable[str | os.PathLike[str]] | None = None) -> Located:
    """The files of one split, or DatasetError naming what was looked for, where, and how to provide it."""
    info = get_dataset(name)
    _check_split(info, split)
    resolved = resolve_roots(roots)
    located = info.loader.locate(info, split, resolved)
    if located is None:
        raise DatasetError(absent_message(info, split, resolved))
    return located


def resolve_member_split(
    name: str | DatasetInfo, roots: Iterable[str | os.PathLike[str]] | None = None
) -> tuple[str | None, str]:
    """(split, reason): the first of `member_splits` whose files are present, and why it was chosen.

    When none is present the first candidate is returned (loading it then gives the clear "not found" error).
    """
    info = get_dataset(name)
    if not info.member_splits:
        return None, f"{info.name} has no training split available to this system"
    resolved = resolve_roots(roots)
    skipped = []
    for split in info.member_splits:
        located = info.loader.locate(info, split, resolved)
        if located is not None:
            reason = f"{split!r} is the preferred training split" if not skipped else (
                f"{split!r} used because {', '.join(map(repr, skipped))} "
                f"{'is' if len(skipped) == 1 else 'are'} absent from {', '.join(map(str, resolved))}"
            )
            return split, f"{reason} ({located.describe()})"
        skipped.append(split)
    return info.member_splits[0], f"no training split of {info.name} is present (looked for {info.member_splits})"


def load_split(
    name: str | DatasetInfo, split: str, roots: Iterable[str | os.PathLike[str]] | None = None
) -> ArraySplit:
    """Images and labels of one split (read-only arrays, cached in memory per process).

    Unknown dataset or split, absent files, and files that are not what they claim to be each raise
    DatasetError naming the dataset, the split and what is wrong.
    """
    info = get_dataset(name)
    located = locate_split(info, split, roots)
    registered = _REGISTRY.get(info.name) is info
    if not registered:  # an unregistered DatasetInfo is read directly, without the cache
        return _read_checked(info, split, located)
    return _cached_read(info.name, split, located, located.signature())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached_read(name: str, split: str, located: Located, signature: tuple) -> ArraySplit:
    return _read_checked(_REGISTRY[name], split, located)


def dataset_record(name: str | DatasetInfo) -> dict[str, object]:
    """The row of the store's `datasets` table for a dataset (what it is, not where its files are)."""
    info = get_dataset(name)
    splits = {
        split: {
            "official_size": (info.split_sizes or {}).get(split),
            "member": split in info.member_splits,
            "nonmember": split == info.nonmember_split,
        }
        for split in info.splits
    }
    return {
        "name": info.name,
        "category": info.category,
        "num_classes": info.num_classes,
        "input_shape": "x".join(str(d) for d in info.image_shape),
        "splits_json": {"splits": splits, "member_splits": list(info.member_splits), "task": info.task,
                        "layout": info.layout, "official": info.official},
        "description": info.description,
        "license": info.license[:128],
    }


def clear_cache() -> None:
    """Forget the arrays kept in memory (files are read again on the next load)."""
    _cached_read.cache_clear()


def _read_checked(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    try:
        data = info.loader.read(info, split, located)
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError, EOFError, IndexError, TypeError, OverflowError, zlib.error) as exc:
        # A reader that met a file it did not foresee: still one line (library messages span several).
        detail = " ".join(str(exc).split())[:300]
        raise DatasetError(
            f"dataset {info.name!r} split {split!r}: cannot read {located.describe()}: {type(exc).__name__}: {detail}"
        ) from exc
    expected = (info.split_sizes or {}).get(split)
    if expected is not None and len(data) != expected:
        raise DatasetError(
            f"dataset {info.name!r} split {split!r}: {located.describe()} holds {len(data)} images, the official "
            f"split has {expected}; it is not the official file (truncated, modified or a different release)"
        )
    if data.labels.ndim == 1 and len(data) and (data.labels.min() < 0 or data.labels.max() >= info.num_classes):
        raise DatasetError(
            f"dataset {info.name!r} split {split!r}: labels span {data.labels.min()}..{data.labels.max()}, "
            f"outside 0..{info.num_classes - 1}"
        )
    for array in (data.images, data.labels, data.indices, data.groups):
        if array is not None and isinstance(array, np.ndarray):
            array.flags.writeable = False
    return data
