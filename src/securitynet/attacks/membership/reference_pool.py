"""The pool a reference model's training images are drawn from: labelled images of one dataset, in parts.

Every reference model trains on a subset of a pool (one or more `ArraySplit` parts, e.g. the attacker
population, or evaluation candidates plus population for online attacks); the parts keep each image's
split and source index, so a reference set can say which models saw any image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from securitynet.attacks.base import AttackError


@dataclass(frozen=True)
class Pool:
    """Labelled images a reference model may train on: one or more ArraySplit parts of one dataset."""

    parts: tuple[Any, ...]

    def __post_init__(self) -> None:
        datasets = {p.dataset for p in self.parts}
        if len(datasets) != 1:
            raise AttackError(f"a reference pool must come from one dataset, got {sorted(datasets)}")

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def dataset(self) -> str:
        return self.parts[0].dataset

    def images(self) -> np.ndarray:
        return np.concatenate([p.images for p in self.parts])

    def labels(self) -> np.ndarray:
        return np.concatenate([p.labels for p in self.parts])

    def split_names(self) -> np.ndarray:
        return np.concatenate([np.full(len(p), p.split, dtype=object) for p in self.parts])

    def source_indices(self) -> np.ndarray:
        return np.concatenate([np.asarray(p.indices) for p in self.parts])

    def fingerprint(self) -> str:
        return hashlib.sha256("|".join(p.fingerprint() for p in self.parts).encode()).hexdigest()[:16]

    def sources(self) -> dict[str, str]:
        """Split name -> the source of that split's images (part of every reference model's cache key)."""
        return {p.split: p.source for p in self.parts}
