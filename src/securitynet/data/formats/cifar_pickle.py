"""CIFAR-10/100 "python version" batches, unpickled without running any code.

The batches are pickles. A plain `pickle.load` (what torchvision does) would run whatever a tampered
file asks for; this unpickler builds only numpy arrays, lists, dicts, numbers and strings and refuses
any other global, so a malicious file is reported and nothing in it is executed.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from securitynet.data.locate import Located, Reader
from securitynet.data.split import ArraySplit, class_numbers, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

# The only globals a CIFAR batch needs: numpy's array reconstruction (module path before and after numpy 2).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(str, "latin1"); it only converts text.
    ("_codecs", "encode"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def __init__(self, fh: io.BufferedIOBase, path: Path) -> None:
        super().__init__(fh, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise DatasetError(
            f"{self._path}: refused to unpickle {module}.{name}: a CIFAR batch holds only arrays, lists and "
            "strings, so this file is not a genuine batch (nothing in it was executed)"
        )


def read_batch(path: str | Path) -> dict[str, Any]:
    """One pickled batch as a dict with str keys (Python 2 byte strings decoded as latin-1, like torchvision)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            obj = _ArraysOnlyUnpickler(fh, path).load()
    except DatasetError:
        raise
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except Exception as exc:  # noqa: BLE001 - only allowed globals ran; any failure means a damaged file
        detail = " ".join(str(exc).split())[:200]
        raise DatasetError(f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {detail})") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: a CIFAR batch is a dict, found {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_batches(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated images (N, 32, 32, 3) uint8 and labels (N,) int64 of several batch files."""
    images, labels = [], []
    for path in paths:
        batch = read_batch(path)
        if "data" not in batch or label_key not in batch:
            raise DatasetError(f"{path}: batch lacks 'data' or {label_key!r} (keys: {sorted(batch)})")
        data = np.asarray(batch["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DatasetError(f"{path}: 'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
        if len(data) == 0:
            raise DatasetError(f"{path}: the batch holds no images")
        y = _labels(batch[label_key], path, label_key)
        if y.shape != (len(data),):
            raise DatasetError(f"{path}: {label_key!r} holds {y.shape} labels for {len(data)} images")
        # Rows are stored channel-first (1024 red, 1024 green, 1024 blue values); the natural layout is HWC.
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(y)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def batch_files(base: str, train: tuple[str, ...], test: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Where torchvision's CIFAR classes put each split's batches below a root (`base/<batch>`)."""
    return {"train": (tuple(f"{base}/{n}" for n in train),), "test": (tuple(f"{base}/{n}" for n in test),)}


def batches_reader(label_key: str) -> Reader:
    """Reads a split from its batch files; `label_key` is "labels" (CIFAR-10) or "fine_labels" (CIFAR-100)."""

    def read(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
        images, labels = read_batches(list(located.files), label_key)
        return whole_split(images, labels, info.name, split, located.describe())

    return read


def _labels(value: Any, path: Path, label_key: str) -> np.ndarray:
    """A batch's labels as int64: a list (or array) of whole numbers, nothing else."""
    if not isinstance(value, list | tuple | np.ndarray):
        raise DatasetError(f"{path}: {label_key!r} must be a list of class numbers, got {type(value).__name__}")
    return class_numbers(value, f"{path}: {label_key!r}")


def write_batch(path: str | Path, images_hwc: np.ndarray, labels: list[int] | np.ndarray, label_key: str) -> None:
    """Write a batch in the CIFAR layout (for fixtures)."""
    data = np.ascontiguousarray(np.asarray(images_hwc, dtype=np.uint8).transpose(0, 3, 1, 2)).reshape(len(labels), -1)
    with open(path, "wb") as fh:
        pickle.dump({"batch_label": "fixture", "data": data, label_key: [int(v) for v in labels]}, fh, protocol=2)
