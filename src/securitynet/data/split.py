"""ArraySplit: the images and labels of one dataset split, with the bookkeeping that makes results traceable."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from securitynet.errors import DatasetError


def class_numbers(values: object, what: str) -> np.ndarray:
    """Labels read from a file as int64; anything but whole numbers (floats, text, objects) is refused,
    never cast: a cast would silently turn 1.5 into 1 and NaN into a huge negative number."""
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise DatasetError(f"{what} must hold whole class numbers, got {array.dtype} values")
    return array.astype(np.int64)


@dataclass(frozen=True, eq=False)
class ArraySplit:
    """Images and labels of (part of) one split of one dataset.

    images   uint8 in the natural layout: (N, H, W) grey, (N, H, W, C) colour, (N, D, H, W) volumes.
             Arrays handed out by `load_split` are read-only (they are shared through the per-process
             cache); take a copy before changing pixels, e.g. to poison or trigger them.
    labels   int64 (N,) class indices; (N, L) multi-hot only for multi-label datasets (ChestMNIST).
    indices  int64 (N,) positions of these images in the source split, so a result can name exactly
             which images it used and a subset can be rebuilt with `load_split(...).subset(indices)`.
    groups   optional int64 (N,) ids of near-duplicate groups that must never be separated
             (GTSRB: one id per (label, track) pair, i.e. per physical sign).
    source   which file(s) the split was read from and how, for provenance.
    """

    images: np.ndarray
    labels: np.ndarray
    dataset: str
    split: str
    indices: np.ndarray
    groups: np.ndarray | None = None
    source: str = ""
    _fingerprint: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != np.uint8:
            raise DatasetError(f"{self.dataset}/{self.split}: images must be uint8, got {self.images.dtype}")
        if self.images.ndim not in (3, 4):
            raise DatasetError(
                f"{self.dataset}/{self.split}: images must be (N,H,W), (N,H,W,C) or (N,D,H,W), "
                f"got shape {tuple(self.images.shape)}"
            )
        for name in ("labels", "indices", "groups"):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value)
            if array.dtype != np.int64:
                if not np.issubdtype(array.dtype, np.integer):
                    raise DatasetError(f"{self.dataset}/{self.split}: {name} must be integers, got {array.dtype}")
                array = array.astype(np.int64)
            if len(array) != n:
                raise DatasetError(f"{self.dataset}/{self.split}: {len(array)} {name} for {n} images")
            object.__setattr__(self, name, array)
        if self.labels.ndim not in (1, 2):
            raise DatasetError(f"{self.dataset}/{self.split}: labels must be (N,) or (N,L), got {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        groups = "" if self.groups is None else f", groups={len(np.unique(self.groups))}"
        return (
            f"ArraySplit({self.dataset}/{self.split}, n={len(self)}, images={tuple(self.images.shape)}"
            f"{groups}, fingerprint={self.fingerprint()})"
        )

    def subset(self, idx: np.ndarray | list[int] | slice) -> ArraySplit:
        """The images at `idx` (positions in *this* ArraySplit, or a boolean mask), indices and groups aligned."""
        if isinstance(idx, slice):
            sel: np.ndarray | slice = idx
        else:
            sel = np.asarray(idx)
            if sel.dtype == bool:
                if sel.shape != (len(self),):
                    raise DatasetError(f"boolean mask of shape {sel.shape} for {len(self)} images")
            elif sel.size == 0:
                sel = sel.astype(np.int64)
            elif not np.issubdtype(sel.dtype, np.integer):
                raise DatasetError(f"subset positions must be integers or a boolean mask, got {sel.dtype}")
            elif sel.min() < -len(self) or sel.max() >= len(self):
                raise DatasetError(f"subset position out of range for {self.dataset}/{self.split} of {len(self)}")
        return ArraySplit(
            images=np.asarray(self.images[sel]),
            labels=self.labels[sel],
            dataset=self.dataset,
            split=self.split,
            indices=self.indices[sel],
            groups=None if self.groups is None else self.groups[sel],
            source=self.source,
        )

    def positions_of(self, indices: np.ndarray | list[int]) -> np.ndarray:
        """Positions in this ArraySplit of the given source-split indices (each must be present)."""
        wanted = np.asarray(indices, dtype=np.int64)
        order = np.argsort(self.indices, kind="stable")
        found = np.searchsorted(self.indices, wanted, sorter=order)
        found = np.clip(found, 0, max(len(order) - 1, 0))
        positions = order[found] if len(order) else np.zeros(0, dtype=np.int64)
        if len(wanted) and (len(order) == 0 or np.any(self.indices[positions] != wanted)):
            missing = wanted[self.indices[positions] != wanted] if len(order) else wanted
            raise DatasetError(f"{self.dataset}/{self.split}: indices {missing[:10].tolist()} are not in this split")
        return positions.astype(np.int64)

    def fingerprint(self) -> str:
        """Short hash of dataset, split, source and the exact indices: a cache key for anything computed on it."""
        if not self._fingerprint:
            digest = hashlib.sha256()
            digest.update(f"{self.dataset}\x00{self.split}\x00{self.source}\x00".encode())
            digest.update(np.ascontiguousarray(self.indices, dtype="<i8").tobytes())
            self._fingerprint.append(digest.hexdigest()[:16])
        return self._fingerprint[0]


def whole_split(
    images: np.ndarray, labels: np.ndarray, dataset: str, split: str, source: str, groups: np.ndarray | None = None
) -> ArraySplit:
    """A split exactly as its files hold it: the indices are the positions 0..N-1 in the files' order."""
    return ArraySplit(images, labels, dataset, split, np.arange(len(images), dtype=np.int64), groups, source)
