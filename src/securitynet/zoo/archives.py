"""Zip and tar extraction that never writes outside the target folder.

Every member of an archive is checked before anything is written: a name that is absolute or
climbs with `..`, a symbolic or hard link whose target lies outside the archive, or a device/FIFO
member makes the whole archive refused (`UnsafeWeightsError` naming archive and member), because an
archive holding such a member was built to attack whoever unpacks it. Links are never created on
disk: a link member that stays inside the archive is written as a copy of the file it points to.
Files are written to a temporary name and renamed, so a failure leaves nothing extracted behind.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from securitynet.errors import UnsafeWeightsError, WeightsError
from securitynet.files import atomic_path

ArchiveKind = Literal["zip", "tar"]
MemberKind = Literal["file", "dir", "symlink", "hardlink"]

# Suffixes stripped to name what an archive holds (pytorchcv: `<name>.pth.zip` holds `<name>.pth`).
ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip")


@dataclass(frozen=True)
class Member:
    name: str  # normalised: forward slashes, no leading "./", no trailing "/"
    kind: MemberKind
    size: int
    link_target: str | None = None  # for links: the normalised archive path they point to


def archive_kind(path: Path) -> ArchiveKind:
    """What kind of archive `path` is, from its content (not its name)."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise WeightsError(f"{path} is neither a zip nor a tar archive (corrupt or truncated?)")


def strip_archive_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def normalise_name(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _check_name(archive: Path, raw: str) -> str:
    name = normalise_name(raw)
    parts = name.split("/")
    if (
        not name
        or raw.replace("\\", "/").startswith("/")
        or (len(name) > 1 and name[1] == ":")  # a Windows drive: C:/...
        or ".." in parts
        or "\x00" in name
    ):
        raise UnsafeWeightsError(
            f"archive {archive} was refused: member {raw!r} would be written outside the target folder"
        )
    return name


def _check_link(archive: Path, name: str, target: str, *, relative_to_member: bool) -> str:
    """The archive path a link points to; refuse links that leave the archive."""
    raw = target.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        escapes = True
        resolved = raw
    else:
        base = posixpath.dirname(name) if relative_to_member else ""
        resolved = posixpath.normpath(posixpath.join(base, raw))
        escapes = resolved == ".." or resolved.startswith("../")
    if escapes:
        raise UnsafeWeightsError(
            f"archive {archive} was refused: member {name!r} is a link to {target!r}, outside the target folder"
        )
    return normalise_name(resolved)


def list_members(archive: Path) -> list[Member]:
    """Every member, checked: raises UnsafeWeightsError on the first member that could escape."""
    kind = archive_kind(archive)
    members: list[Member] = []
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    name = _check_name(archive, info.filename)
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        target = zf.read(info).decode("utf-8", errors="replace")
                        resolved = _check_link(archive, name, target, relative_to_member=True)
                        members.append(Member(name, "symlink", 0, resolved))
                    elif info.is_dir():
                        members.append(Member(name, "dir", 0))
                    else:
                        members.append(Member(name, "file", info.file_size))
        else:
            with tarfile.open(archive) as tf:
                for info in tf.getmembers():
                    name = _check_name(archive, info.name)
                    if info.issym():
                        resolved = _check_link(archive, name, info.linkname, relative_to_member=True)
                        members.append(Member(name, "symlink", 0, resolved))
                    elif info.islnk():
                        resolved = _check_link(archive, name, info.linkname, relative_to_member=False)
                        members.append(Member(name, "hardlink", 0, resolved))
                    elif info.isdir():
                        members.append(Member(name, "dir", 0))
                    elif info.isreg():
                        members.append(Member(name, "file", info.size))
                    else:
                        raise UnsafeWeightsError(
                            f"archive {archive} was refused: member {info.name!r} is a device, FIFO or other "
                            "special file"
                        )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise WeightsError(f"archive {archive} cannot be read (corrupt or truncated?): {exc}") from None
    return members


def _resolve(archive: Path, members: dict[str, Member], name: str) -> Member:
    """Follow links inside the archive to the regular file they stand for."""
    seen: set[str] = set()
    member = members.get(name)
    while member is not None and member.kind in ("symlink", "hardlink"):
        if member.name in seen:
            raise WeightsError(f"archive {archive}: member {name!r} is a link loop")
        seen.add(member.name)
        member = members.get(member.link_target or "")
    if member is None or member.kind != "file":
        raise WeightsError(f"archive {archive}: member {name!r} is not a regular file inside the archive")
    return member


def file_members(archive: Path) -> list[str]:
    """Names of the regular files (and links to them) in an archive, after the safety check."""
    return [m.name for m in list_members(archive) if m.kind != "dir"]


@contextmanager
def _open_member(archive: Path, kind: ArchiveKind, name: str) -> Iterator[IO[bytes]]:
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            infos = {normalise_name(i.filename): i for i in zf.infolist()}
            with zf.open(infos[name]) as handle:
                yield handle
    else:
        with tarfile.open(archive) as tf:
            infos = {normalise_name(i.name): i for i in tf.getmembers()}
            handle = tf.extractfile(infos[name])
            if handle is None:
                raise WeightsError(f"archive {archive}: member {name!r} has no content")
            with handle:
                yield handle


def _copy_member(archive: Path, kind: ArchiveKind, name: str, dest: Path) -> None:
    """Write one regular member to `dest` through a temporary file in the same folder."""
    with atomic_path(dest, suffix=".extracting") as tmp:
        try:
            with open(tmp, "wb") as out, _open_member(archive, kind, name) as src:
                shutil.copyfileobj(src, out, length=1 << 20)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise WeightsError(f"archive {archive}: member {name!r} cannot be extracted (corrupt?): {exc}") from None


def extract_member(archive: Path, member: str | None, dest: Path) -> Path:
    """Extract one file of `archive` to the file path `dest`, after checking every member.

    `member=None` takes the archive's only file and refuses an archive holding several.
    """
    members = list_members(archive)
    by_name: dict[str, Member] = {}
    for m in members:
        if m.name in by_name and m.kind != "dir":
            raise WeightsError(f"archive {archive} holds member {m.name!r} twice; which one is meant is ambiguous")
        by_name[m.name] = m
    files = [m.name for m in members if m.kind != "dir"]
    if member is None:
        if len(files) != 1:
            shown = ", ".join(files[:10]) + (" ..." if len(files) > 10 else "")
            raise WeightsError(
                f"archive {archive} holds {len(files)} files ({shown or 'none'}); the card must name archive_member"
            )
        wanted = files[0]
    else:
        wanted = normalise_name(member)
        if wanted not in by_name:
            shown = ", ".join(files[:10]) + (" ..." if len(files) > 10 else "")
            raise WeightsError(f"archive {archive} has no member {member!r} (it holds: {shown or 'nothing'})")
    source = _resolve(archive, by_name, wanted)
    _copy_member(archive, archive_kind(archive), source.name, dest)
    return dest


def extract_all(archive: Path, dest_dir: Path) -> list[Path]:
    """Extract every file of `archive` under `dest_dir` (links become copies). All or nothing."""
    members = list_members(archive)
    by_name = {m.name: m for m in members}
    kind = archive_kind(archive)
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=dest_dir))
    try:
        for m in members:
            if m.kind == "dir":
                (staging / m.name).mkdir(parents=True, exist_ok=True)
            else:
                source = _resolve(archive, by_name, m.name)
                _copy_member(archive, kind, source.name, staging / m.name)
        # Everything is staged: move the files into place (merging with folders that already exist).
        written: list[Path] = []
        for m in members:
            if m.kind == "dir":
                (dest_dir / m.name).mkdir(parents=True, exist_ok=True)
                continue
            target = dest_dir / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / m.name, target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
