"""Atomic file writes: a killed process leaves either the old file or the new one, never half of one.

Everything the project writes to a final path (weights, cached arrays, snapshots, exports, records) goes
through a temporary file beside the target, renamed into place only once it is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (a memory map, SQLite, safetensors).

    When the block ends normally the temporary file is renamed onto `path`; on any error it is removed and
    `path` is left as it was. The folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> None:
    """Call `write` on a binary file beside `path`, fsync it, and rename it into place."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """`payload` as the whole content of `path`, written atomically (and fsynced)."""
    atomic_write(path, lambda handle: handle.write(payload))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`text` (UTF-8) as the whole content of `path`, written atomically (and fsynced)."""
    atomic_write_bytes(path, text.encode("utf-8"))
