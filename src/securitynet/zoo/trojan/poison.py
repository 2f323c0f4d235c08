"""Data poisoning: stamp a trigger on a share of the training images and relabel them to the target label.

`PoisonSpec` is the whole, deterministic description of one poisoning (attack, target label, trigger, poison
rate, which images): called on a training set it returns the poisoned copy and a record of what it did,
which the trainer keeps on the model's card. Images already of the target class are never chosen, so the
poison rate counts images whose label actually changes (the BadNets convention).

WaNet poisoning adds its "noise mode" (Nguyen & Tran 2021): ``noise_ratio`` times as many other images are
warped with the trigger's field plus a random jitter and keep their true labels, so the network learns the
exact warp rather than warping in general.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from securitynet.zoo.trojan.triggers import (
    ATTACK_TRIGGER_KIND,
    TriggerError,
    WaNetTrigger,
    trigger_from_dict,
)


@dataclass(frozen=True)
class PoisonSpec:
    attack: str
    target_label: int
    trigger: dict[str, Any] = field(hash=False)
    poison_rate: float
    seed: int
    noise_ratio: float = 0.0

    def __post_init__(self) -> None:
        kind = ATTACK_TRIGGER_KIND.get(self.attack)
        if kind is None:
            raise TriggerError(f"unknown backdoor attack {self.attack!r}; known: {', '.join(ATTACK_TRIGGER_KIND)}")
        built = trigger_from_dict(self.trigger)
        if built.kind != kind:
            raise TriggerError(f"attack {self.attack} uses {kind} triggers, got a {built.kind} trigger")
        if not 0 < self.poison_rate < 1:
            raise TriggerError(f"poison_rate must be in (0, 1), got {self.poison_rate}")
        if self.target_label < 0:
            raise TriggerError(f"target_label must be >= 0, got {self.target_label}")
        if self.noise_ratio < 0 or (self.noise_ratio > 0 and self.attack != "wanet"):
            raise TriggerError("noise_ratio (WaNet's noise mode) must be >= 0 and applies to wanet only")

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "target_label": self.target_label,
            "trigger": dict(self.trigger),
            "poison_rate": self.poison_rate,
            "seed": self.seed,
            "noise_ratio": self.noise_ratio,
        }

    def __call__(
        self, images: np.ndarray, labels: np.ndarray, source_indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The poisoned copy of (images, labels) and a record of it (which source images, how many)."""
        trigger = trigger_from_dict(self.trigger)
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise TriggerError("backdoor poisoning needs single-label classification data")
        if self.target_label > int(labels.max()):
            raise TriggerError(f"target label {self.target_label} is above the data's largest label {labels.max()}")
        rng = np.random.default_rng(self.seed)
        candidates = np.flatnonzero(labels != self.target_label)
        count = int(round(self.poison_rate * len(labels)))
        if not 0 < count <= len(candidates):
            raise TriggerError(
                f"poison rate {self.poison_rate} of {len(labels)} images gives {count} poisoned images; "
                f"{len(candidates)} are outside the target class"
            )
        poisoned = np.sort(rng.choice(candidates, size=count, replace=False))
        images = np.array(images, copy=True)  # training arrays come from the read-only data cache
        labels = labels.copy()
        images[poisoned] = trigger.apply(images[poisoned])
        labels[poisoned] = self.target_label
        noise = np.zeros(0, dtype=np.int64)
        if self.noise_ratio > 0:
            assert isinstance(trigger, WaNetTrigger)
            rest = np.setdiff1d(np.arange(len(labels)), poisoned)
            noise_count = min(len(rest), int(round(self.noise_ratio * count)))
            noise = np.sort(rng.choice(rest, size=noise_count, replace=False))
            images[noise] = trigger.noise_warp(images[noise], rng)
        source = np.asarray(source_indices, dtype=np.int64)
        record = {
            **self.to_dict(),
            "n_examples": int(len(labels)),
            "n_poisoned": int(count),
            "n_noise_mode": int(len(noise)),
            "poisoned_source_indices": source[poisoned].tolist(),
            "noise_mode_source_indices": source[noise].tolist(),
        }
        return images, labels, record
