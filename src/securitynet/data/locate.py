"""Where dataset files are looked for, and the common case of a split that is a fixed set of files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from securitynet import config

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo
    from securitynet.data.split import ArraySplit


def download_root() -> Path:
    """Where `download_dataset` puts files by default: the first SECURITYNET_DATA folder, else the home folder."""
    env = config._paths_from_env("SECURITYNET_DATA")
    return env[0] if env else config.home_dir() / "datasets"


def default_roots() -> list[Path]:
    """SECURITYNET_DATA folders, the offline shared data folder, then the default download folder."""
    roots = list(config.data_roots())
    fallback = download_root()
    if fallback not in roots:
        roots.append(fallback)
    return roots


def resolve_roots(roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None) -> tuple[Path, ...]:
    if roots is None:
        return tuple(default_roots())
    if isinstance(roots, str | os.PathLike):
        roots = [roots]
    return tuple(Path(r).expanduser() for r in roots)


@dataclass(frozen=True)
class Located:
    """The files (or folders) that hold one split, found under `root`."""

    files: tuple[Path, ...]
    root: Path

    def describe(self) -> str:
        names = []
        for path in self.files:
            try:
                names.append(str(path.relative_to(self.root)))
            except ValueError:
                names.append(str(path))
        return f"{' + '.join(names)} in {self.root}"

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        """Size and modification time of each file, so a changed file is never served from the memory cache."""
        out = []
        for path in self.files:
            try:
                stat = path.stat()
                out.append((str(path), stat.st_size, stat.st_mtime_ns))
            except OSError:
                out.append((str(path), -1, -1))
        return tuple(out)


class SplitLoader(Protocol):
    """How one dataset finds and reads its splits. `DatasetInfo.loader` holds one."""

    def locate(self, info: DatasetInfo, split: str, roots: Sequence[Path]) -> Located | None: ...

    def looked_for(self, info: DatasetInfo, split: str) -> list[str]: ...

    def read(self, info: DatasetInfo, split: str, located: Located) -> ArraySplit: ...


Reader = Callable[["DatasetInfo", str, Located], "ArraySplit"]


@dataclass(frozen=True)
class FileSetLoader:
    """A split is a fixed set of files below a root.

    folders       subfolders of each root that may hold the files ("" = the root itself), in order
    files         split -> alternatives; an alternative is a tuple of relative paths that must all exist
                  in the same folder (e.g. images + labels); the first complete one wins
    reader        turns the located files into an ArraySplit
    extra_roots   folders searched after the caller's roots (e.g. the medmnist package's own root)
    """

    folders: tuple[str, ...]
    files: Mapping[str, tuple[tuple[str, ...], ...]]
    reader: Reader
    extra_roots: tuple[Path, ...] = field(default=())

    def locate(self, info: DatasetInfo, split: str, roots: Sequence[Path]) -> Located | None:
        for root in [*roots, *self.extra_roots]:
            for folder in self.folders:
                base = root / folder if folder else root
                if not base.is_dir():
                    continue
                for alternative in self.files.get(split, ()):
                    paths = tuple(base / name for name in alternative)
                    if all(p.exists() for p in paths):
                        return Located(files=paths, root=root)
        return None

    def looked_for(self, info: DatasetInfo, split: str) -> list[str]:
        wanted = []
        for alternative in self.files.get(split, ()):
            names = " + ".join(alternative)
            places = ", ".join(f"{f}/" if f else "./" for f in self.folders)
            wanted.append(f"{names} (in {places})")
        if self.extra_roots:
            wanted.append("also searched: " + ", ".join(str(r) for r in self.extra_roots))
        return wanted

    def read(self, info: DatasetInfo, split: str, located: Located) -> ArraySplit:
        return self.reader(info, split, located)


def reader_by_split(default: Reader, **special: Reader) -> Reader:
    """A reader that hands the splits named in `special` to their own reader and the others to `default`."""

    def read(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
        return special.get(split, default)(info, split, located)

    return read

