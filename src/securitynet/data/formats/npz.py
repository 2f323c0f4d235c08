"""Arrays of `.npz` files, read without pickles; large members memory-mapped through a decompressed cache.

`np.load(..., mmap_mode=...)` cannot map members of a (compressed) npz, and MedMNIST at 224 px or
ImageNet-sized arrays do not belong in memory. A member above `LARGE_BYTES` is streamed once into an
`.npy` under the cache folder (written to a temporary name, then renamed, so an interrupted copy never
counts) and memory-mapped from there on; later processes skip the decompression (GTSRB's 120 MB of
training images: seconds -> milliseconds).
"""

from __future__ import annotations

import hashlib
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from securitynet import config
from securitynet.errors import DatasetError
from securitynet.files import atomic_path

LARGE_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024 * 1024


def npz_keys(path: str | Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: not a readable npz file ({type(exc).__name__}: {exc})") from exc


def _member_header(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:  # noqa: BLE001 - numpy parses the header text as a Python literal: ValueError,
        # SyntaxError, tokenize.TokenError... all mean a damaged header; nothing in it is executed
        raise DatasetError(f"not an .npy array header ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") \
            from exc
    raise DatasetError(f"unsupported .npy format version {version}")


def read_npz_array(path: str | Path, key: str, large_bytes: int | None = None) -> np.ndarray:
    """Member `key` of an npz file; object (pickled) arrays are refused, large ones memory-mapped read-only."""
    path = Path(path)
    large_bytes = LARGE_BYTES if large_bytes is None else large_bytes
    try:
        with zipfile.ZipFile(path) as zf:
            name = f"{key}.npy"
            if name not in zf.namelist():
                raise DatasetError(f"{path}: has no array {key!r} (arrays: {npz_keys(path)})")
            with zf.open(name) as fh:
                try:
                    shape, fortran, dtype = _member_header(fh)
                except DatasetError as exc:
                    raise DatasetError(f"{path}: array {key!r}: {exc}") from None
                if dtype.hasobject:
                    raise DatasetError(f"{path}: array {key!r} holds Python objects (pickles); refused")
                # Python integers: a hostile header's shape must not overflow into a small (or negative) size,
                # and must not make us allocate what the member does not hold.
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > zf.getinfo(name).file_size:
                    raise DatasetError(f"{path}: array {key!r} is truncated: its header promises shape {shape} "
                                       f"({nbytes} bytes), the member holds {zf.getinfo(name).file_size}")
                if nbytes < large_bytes:
                    data = fh.read(nbytes)
                    if len(data) != nbytes:
                        raise DatasetError(f"{path}: array {key!r} is truncated ({len(data)} of {nbytes} bytes)")
                    array = np.frombuffer(data, dtype=dtype)
                    return array.reshape(shape, order="F" if fortran else "C")
                return _cached_memmap(path, key, fh, shape, fortran, dtype, nbytes)
    except (zipfile.BadZipFile, EOFError, ValueError, zlib.error, NotImplementedError, RuntimeError) as exc:
        # numpy's header parser says ValueError; zipfile: zlib.error (corrupt data), NotImplementedError
        # (unknown compression), RuntimeError (encrypted member).
        detail = " ".join(str(exc).split())[:300]
        raise DatasetError(f"{path}: not a readable npz file ({type(exc).__name__}: {detail})") from exc


def _cached_memmap(path: Path, key: str, fh, shape, fortran: bool, dtype: np.dtype, nbytes: int) -> np.ndarray:
    stat = path.stat()
    tag = hashlib.sha256(f"{path.resolve()}\x00{stat.st_size}\x00{stat.st_mtime_ns}\x00{key}".encode()).hexdigest()
    folder = config.cache_dir() / "datasets" / "npz"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.stem}-{key}-{tag[:16]}.npy"
    if not target.exists():
        with atomic_path(target, suffix=".npy.part") as tmp_name:
            out = np.lib.format.open_memmap(tmp_name, mode="w+", dtype=dtype, shape=tuple(shape), fortran_order=fortran)
            flat = out.reshape(-1, order="F" if fortran else "C").view(np.uint8)
            done = 0
            while done < nbytes:
                chunk = fh.read(min(_CHUNK, nbytes - done))
                if not chunk:
                    raise DatasetError(f"{path}: array {key!r} is truncated ({done} of {nbytes} bytes)")
                flat[done : done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                done += len(chunk)
            out.flush()
            del flat, out
    return np.load(target, mmap_mode="r")
