"""Posterior cache: a model's posteriors on a data split are computed once and reused by every attack and run.

Key: (model fingerprint, split fingerprint).
- The model fingerprint hashes the weight hash together with everything that turns the same weights
  into different outputs: architecture and its arguments, input preprocessing, output kind.
  Weights without a hash (random initialisation, ``pretrained=False``) get no fingerprint: their
  posteriors are cached in memory for as long as that model object lives, never on disk.
- The split fingerprint hashes the dataset and split names, the positions of the images in the
  source split, and the image bytes themselves, so a resized query set or another data root never
  collides with the original.

On disk, ``<cache>/posteriors/<model fp[:2]>/<model fp>/<split fp>.npy`` (float32, written to a
temporary file and renamed, so a killed run leaves no partial file) with a JSON note beside it
saying what it is. On top, an in-memory LRU bounded in bytes. Arrays handed out are read-only:
an attack that changed one would silently change every later attack's input.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from securitynet import config
from securitynet.catalog.card import ModelCard
from securitynet.engine.inference import BatchedPredictor
from securitynet.files import atomic_write
from securitynet.zoo.target import TargetModel

# Bump when the meaning of cached files changes (e.g. how posteriors are computed).
CACHE_FORMAT = "1"
DEFAULT_MEMORY_BYTES = 256 << 20


def model_fingerprint(card: ModelCard, weight_hash: str | None) -> str | None:
    """Identity of a model's input->posterior function, or None when its weights have no hash."""
    if not weight_hash:
        return None
    payload = {
        "format": CACHE_FORMAT,
        "weights": weight_hash,
        "architecture": card.architecture,
        "arch_kwargs": card.arch_kwargs,
        "input": None if card.input is None else card.input.model_dump(mode="json"),
        "output_kind": card.output_kind,
        "num_classes": card.num_classes,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


# Hashing the same image array again for every attack would cost as much as a small model's forward
# pass; remember digests per live array object (dropped when the array is garbage collected).
_DIGESTS: dict[int, tuple[weakref.ref[np.ndarray], str]] = {}


def _array_digest(array: np.ndarray) -> str:
    key = id(array)
    known = _DIGESTS.get(key)
    if known is not None and known[0]() is array:
        return known[1]
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.dtype.str}|{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).data)
    value = digest.hexdigest()
    try:
        _DIGESTS[key] = (weakref.ref(array, lambda _ref, k=key: _DIGESTS.pop(k, None)), value)
    except TypeError:  # an array type that takes no weak references: just do not memoise it
        pass
    return value


@dataclass(frozen=True)
class SplitKey:
    """What a data split is, for the cache and for provenance."""

    dataset: str
    split: str
    n: int
    fingerprint: str


def split_key(split: Any) -> SplitKey:
    """Fingerprint an `ArraySplit` (or a bare uint8 image array, e.g. a transformed query set)."""
    if isinstance(split, np.ndarray):
        images, dataset, name, indices = split, "array", "array", None
    else:
        images = split.images
        dataset = str(getattr(split, "dataset", "unknown"))
        name = str(getattr(split, "split", "unknown"))
        indices = getattr(split, "indices", None)
    digest = hashlib.sha256()
    digest.update(f"{dataset}\x1f{name}\x1f".encode())
    digest.update(_array_digest(np.asarray(indices)).encode() if indices is not None else b"-")
    digest.update(_array_digest(images).encode())
    return SplitKey(dataset=dataset, split=name, n=len(images), fingerprint=digest.hexdigest()[:32])


def _images(split: Any) -> np.ndarray:
    return split if isinstance(split, np.ndarray) else split.images


@dataclass
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    rows_computed: int = 0
    forward_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class PosteriorCache:
    """Posteriors by (model, split): memory LRU, then disk, then one batched forward pass."""

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        disk: bool = True,
    ) -> None:
        self.root = Path(root) if root is not None else config.cache_dir() / "posteriors"
        self.disk = disk
        self.memory_bytes = memory_bytes
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_used = 0
        self._unhashed_tokens: weakref.WeakKeyDictionary[torch.nn.Module, str] = weakref.WeakKeyDictionary()
        # Per model, the batch size that fitted: found once, reused by later splits of the same model.
        self._predictor_batch: dict[str, int] = {}
        self.stats = CacheStats()

    # --- keys -----------------------------------------------------------------------------------

    def _model_key(self, target: TargetModel) -> tuple[str, bool]:
        """(key prefix, whether it may go to disk)."""
        fingerprint = model_fingerprint(target.card, target.weight_hash)
        if fingerprint is not None:
            return fingerprint, True
        token = self._unhashed_tokens.get(target.module)
        if token is None:
            token = f"unhashed-{uuid.uuid4().hex}"
            self._unhashed_tokens[target.module] = token
        return token, False

    def _path(self, model_key: str, split: SplitKey) -> Path:
        return self.root / model_key[:2] / model_key / f"{split.fingerprint}.npy"

    # --- public ---------------------------------------------------------------------------------

    def get(self, target: TargetModel, split: Any) -> np.ndarray:
        """Posteriors (N, C) float32, read-only, of ``target`` on ``split`` (an ArraySplit or image array)."""
        model_key, persistent = self._model_key(target)
        skey = split_key(split)
        key = f"{model_key}/{skey.fingerprint}"
        cached = self._memory.get(key)
        if cached is not None:
            self._memory.move_to_end(key)
            self.stats.memory_hits += 1
            return cached
        path = self._path(model_key, skey)
        probs = self._read(path, skey.n, target.num_classes) if persistent and self.disk else None
        if probs is not None:
            self.stats.disk_hits += 1
        else:
            self.stats.misses += 1
            predictor = BatchedPredictor(target, self._predictor_batch.get(model_key))
            probs = predictor(_images(split))
            self._predictor_batch[model_key] = predictor.batch_size
            self.stats.rows_computed += len(probs)
            self.stats.forward_batches += predictor.forward_batches
            if persistent and self.disk:
                self._write(path, probs, target, skey)
        probs.setflags(write=False)
        self._remember(key, probs)
        return probs

    def forget(self, target: TargetModel) -> None:
        """Drop a model's posteriors from memory (they stay on disk): called when its jobs end."""
        model_key, _ = self._model_key(target)
        for key in [k for k in self._memory if k.startswith(f"{model_key}/")]:
            self._memory_used -= self._memory.pop(key).nbytes
        self._predictor_batch.pop(model_key, None)

    def clear_memory(self) -> None:
        self._memory.clear()
        self._memory_used = 0

    # --- internals ------------------------------------------------------------------------------

    def _remember(self, key: str, probs: np.ndarray) -> None:
        if probs.nbytes > self.memory_bytes:
            return
        self._memory[key] = probs
        self._memory_used += probs.nbytes
        while self._memory_used > self.memory_bytes:
            _, dropped = self._memory.popitem(last=False)
            self._memory_used -= dropped.nbytes

    @staticmethod
    def _read(path: Path, rows: int, num_classes: int | None) -> np.ndarray | None:
        """A cached array if it is present and intact; anything else is recomputed (and overwritten)."""
        if not path.is_file():
            return None
        try:
            probs = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if probs.dtype != np.float32 or probs.ndim != 2 or probs.shape[0] != rows:
            return None
        if num_classes is not None and probs.shape[1] != num_classes:
            return None
        if not np.isfinite(probs).all():  # written before the output guard existed: recompute (and so refuse)
            return None
        return probs

    def _write(self, path: Path, probs: np.ndarray, target: TargetModel, skey: SplitKey) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        note = {
            "model_id": target.card.id,
            "weight_hash": target.weight_hash,
            "dataset": skey.dataset,
            "split": skey.split,
            "rows": skey.n,
            "classes": int(probs.shape[1]),
            "format": CACHE_FORMAT,
            "created": datetime.now(UTC).isoformat(),
        }
        atomic_write(path.with_suffix(".json"), lambda fh: fh.write(json.dumps(note, indent=1).encode()))
        atomic_write(path, lambda fh: np.save(fh, np.ascontiguousarray(probs, dtype=np.float32)))

