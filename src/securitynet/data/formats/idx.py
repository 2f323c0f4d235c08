"""IDX files (MNIST, Fashion-MNIST), plain or gzipped.

torchvision's reader takes only the uncompressed files that its own download extracts; the offline
copies and the original site ship `.gz` files, so the format is parsed here for both.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

# Type codes of the IDX format (third byte of the magic number), as big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot decompress ({type(exc).__name__}: {exc}); the file is corrupt") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order; truncated or padded files are refused."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if ndim == 0 or len(data) < offset:
        raise DatasetError(f"{path}: IDX header is truncated")
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != expected:
        raise DatasetError(
            f"{path}: IDX header promises {dims} values ({expected} bytes) but the file holds {len(data) - offset}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write an IDX file (for fixtures and exports); gzipped when the name ends in .gz."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise DatasetError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array).astype(native.newbyteorder(">"), copy=False).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(payload) if compress else payload)


def idx_pair(prefix: str) -> tuple[tuple[str, ...], ...]:
    """The image and label files of one MNIST-style split (`train`, `t10k`), plain or gzipped."""
    names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    return (names, tuple(f"{n}.gz" for n in names))


def read_idx_split(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    """A split stored as an IDX image file (uint8, N x H x W) and an IDX label file."""
    image_path, label_path = located.files
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != tuple(info.image_shape):
        raise DatasetError(f"{image_path}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{label_path}: {labels.shape} labels for {len(images)} images in {image_path}")
    return whole_split(images, labels.astype(np.int64), info.name, split, located.describe())
