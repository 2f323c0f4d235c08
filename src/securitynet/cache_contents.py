"""What the cache folder holds, by kind, with sizes; and removing it safely (`securitynet cache clean`).

The folders are the ones the writers use (zoo.weights, engine.cache, zoo.reference_cache,
attacks.backdoor.mntd, data.formats): a test checks the names against those modules. Torch-free, so the
command stays fast. Removing never touches anything outside these folders, never a lock file that a
process holds, and no weight file while any fetch holds a lock (it may be writing one).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from securitynet import config


@dataclass(frozen=True)
class CacheKind:
    name: str
    folders: tuple[str, ...]  # below the cache root
    depth: int | None  # path parts below the cache root that name one item; None: a file's folder
    description: str


KINDS: tuple[CacheKind, ...] = (
    CacheKind("weights", ("weights", "weights-archives"), None, "weight files (and archives), per card"),
    CacheKind("posteriors", ("posteriors",), 3, "cached model outputs, per model fingerprint"),
    CacheKind("reference-models", ("mia-references",), 3, "MIA reference models, per dataset and architecture"),
    CacheKind("backdoor-meta", ("mntd",), 3, "MNTD shadow zoos and meta-classifiers"),
    CacheKind("datasets", ("datasets",), 3, "decoded dataset arrays"),
    CacheKind("locks", ("locks",), 2, "lock files of weight fetches"),
)
KIND_NAMES: tuple[str, ...] = tuple(kind.name for kind in KINDS)


@dataclass
class CacheEntry:
    kind: str
    item: str  # path below the cache root
    files: list[Path] = field(default_factory=list)
    bytes: int = 0


def cache_entries(root: Path | None = None, kinds: Sequence[str] | None = None) -> list[CacheEntry]:
    """Every item of the wanted kinds in the cache, sorted by kind then item; symlinks are not followed."""
    root = Path(root) if root is not None else config.cache_dir()
    entries: dict[tuple[str, str], CacheEntry] = {}
    for kind in KINDS:
        if kinds is not None and kind.name not in kinds:
            continue
        for folder in kind.folders:
            for path in _files(root / folder):
                parts = path.relative_to(root).parts
                item = "/".join(parts[:-1] if kind.depth is None else parts[: kind.depth])
                entry = entries.setdefault((kind.name, item), CacheEntry(kind.name, item))
                entry.files.append(path)
                entry.bytes += path.lstat().st_size
    order = {name: i for i, name in enumerate(KIND_NAMES)}
    return sorted(entries.values(), key=lambda e: (order[e.kind], e.item))


def _files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir() or folder.is_symlink():
        return
    for dirpath, _dirnames, filenames in os.walk(folder):  # os.walk does not follow symlinked folders
        for name in filenames:
            yield Path(dirpath) / name


@dataclass
class CleanOutcome:
    removed: list[CacheEntry] = field(default_factory=list)
    kept: list[tuple[CacheEntry, str]] = field(default_factory=list)  # (entry, why it was kept)


def lock_is_held(path: Path) -> bool:
    """Whether a live process holds this lock file (the kernel drops the lock of a killed one)."""
    try:
        with FileLock(str(path), timeout=0):
            return False
    except Timeout:
        return True


def remove_entries(entries: Sequence[CacheEntry], root: Path | None = None) -> CleanOutcome:
    """Remove the entries' files and their emptied folders; held locks, and weights while a fetch is
    under way, are kept and said so."""
    root = Path(root) if root is not None else config.cache_dir()
    outcome = CleanOutcome()
    fetching = any(lock_is_held(path) for path in _files(root / "locks"))
    for entry in entries:
        if entry.kind == "locks" and any(lock_is_held(path) for path in entry.files):
            outcome.kept.append((entry, "held by a running process"))
            continue
        if entry.kind == "weights" and fetching:
            outcome.kept.append((entry, "a weight fetch is under way; try again when it ends"))
            continue
        for path in entry.files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            remove_empty_dirs(path.parent, root)
        outcome.removed.append(entry)
    return outcome


def remove_stale_locks(root: Path | None = None) -> int:
    """Remove the lock files nobody holds (left by killed processes); how many were removed."""
    stale = [e for e in cache_entries(root, ["locks"]) if not any(lock_is_held(p) for p in e.files)]
    return len(remove_entries(stale, root).removed)


def remove_empty_dirs(folder: Path, stop: Path) -> None:
    """Remove `folder` and its parents while they are empty, up to (not including) `stop`."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def human_size(size: int) -> str:
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
