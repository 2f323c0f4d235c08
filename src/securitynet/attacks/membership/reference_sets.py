"""Sets of reference (shadow) models trained on subsets of one pool: offline (the attacker population only)
or online (every evaluation candidate IN for half of the models).

This module decides which images and which seed each model gets; the context's reference-model provider
(``ctx.reference_models``, `securitynet.zoo.reference_cache`) trains each model once and caches it on disk.
`ReferenceSet.trained_on` says, for any images by their split and source indices, which models saw them.
Every seed is drawn through `securitynet.seeds.derive_seed` (at 32 bits, `sets.derive_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from securitynet.attacks.base import AttackError
from securitynet.attacks.membership.reference_pool import Pool
from securitynet.attacks.membership.sets import derive_seed
from securitynet.zoo.reference_cache import ReferenceModel, ReferenceModels
from securitynet.zoo.reference_spec import ReferenceSpec


@dataclass
class ReferenceSet:
    """Reference models trained on subsets of one pool."""

    spec: ReferenceSpec
    pool: Pool
    models: list[ReferenceModel]
    kind: str  # "offline" (never saw evaluation candidates) or "online" (each candidate IN for half)

    def __len__(self) -> int:
        return len(self.models)

    def trained_on(self, data: Any) -> np.ndarray:
        """Bool (models, len(data)): which models trained on each image of ``data`` (an ArraySplit)."""
        indices = np.asarray(data.indices)
        out = np.zeros((len(self.models), len(indices)), dtype=bool)
        for row, model in enumerate(self.models):
            seen = model.trained_on.get(data.split)
            if seen is not None:
                out[row] = np.isin(indices, seen)
        return out

    def balanced_sample(self, data: Any, index: int, *, avoid: Any = None) -> Any:
        """Model ``index``'s training images in ``data`` and as many of its other images (seeded), as one split.

        The attacker's labelled data for thresholds, shadow attack models and leave-one-out calibration:
        balanced like the evaluation sets, and far cheaper to query than the whole population. The draw
        depends only on the model and ``data``, so every attack asks the posterior cache for the same
        images. ``avoid`` (source indices of ``data``'s split) are left out of the non-member side.
        """
        inside = self.trained_on(data)[index]
        members = np.flatnonzero(inside)
        candidates = ~inside
        if avoid is not None:
            candidates &= ~np.isin(np.asarray(data.indices), np.asarray(avoid))
        outside = np.flatnonzero(candidates)
        if len(members) == 0 or len(outside) == 0:
            raise AttackError(f"reference model {index} has no training images or no held-out images in {data.split}")
        rng = np.random.default_rng(derive_seed(self.models[index].key, data.fingerprint(), "balanced"))
        chosen = rng.choice(outside, size=min(len(members), len(outside)), replace=False)
        return data.subset(np.sort(np.concatenate([members, chosen])))

    def describe(self) -> dict[str, Any]:
        """What to record with a result: the spec, the pool and every model's key and weight hash."""
        return {
            "kind": self.kind,
            "spec": self.spec.to_dict(),
            "pool": [
                {"dataset": p.dataset, "split": p.split, "n": len(p), "fingerprint": p.fingerprint()}
                for p in self.pool.parts
            ],
            "models": [
                {
                    "index": m.index,
                    "key": m.key,
                    "weight_hash": m.target.weight_hash,
                    "train_size": int(sum(len(v) for v in m.trained_on.values())),
                    "trained_now": m.trained_now,
                }
                for m in self.models
            ],
        }


def reference_train_size(spec: ReferenceSpec, available: int, requested: int | None = None) -> int:
    """Images per reference model: the target's training-set size, capped at half of what is ``available``.

    Half, so that every reference model leaves as many images of its pool out as it takes in (shadow
    attacks need both sides; LiRA and RMIA need every pool image OUT for about half the models).
    """
    cap = max(1, available // 2)
    wanted = requested if requested is not None else (spec.target_train_size or cap)
    return int(max(1, min(wanted, cap)))


def offline_references(
    provider: ReferenceModels,
    spec: ReferenceSpec,
    population: Any,
    count: int,
    *,
    seed: int,
    train_size: int | None = None,
) -> ReferenceSet:
    """``count`` models, each on its own random subset of the attacker population (no evaluation image).

    Model i's subset and seed depend only on (population, spec, seed, i), so asking for more models later
    reuses the first ones, and so do shadow attacks (which use the first few).
    """
    pool = Pool((population,))
    size = reference_train_size(spec, len(pool), train_size)
    masks = []
    for i in range(count):
        rng = np.random.default_rng(derive_seed(seed, pool.fingerprint(), size, "offline", i))
        mask = np.zeros(len(pool), dtype=bool)
        mask[rng.choice(len(pool), size=size, replace=False)] = True
        masks.append(mask)
    models = _train_all(provider, spec, pool, masks, seed=seed, kind="offline")
    return ReferenceSet(spec=spec, pool=pool, models=models, kind="offline")


def online_references(
    provider: ReferenceModels,
    spec: ReferenceSpec,
    candidates: list[Any],
    population: Any,
    count: int,
    *,
    seed: int,
    train_size: int | None = None,
) -> ReferenceSet:
    """``count`` models such that every candidate is IN for exactly half of them (Carlini et al.'s keep matrix).

    Each model trains on its half of the candidates plus random population images up to the reference
    training-set size (the target's, capped by the data), so IN and OUT models differ only in the candidate.
    """
    if count < 2:
        raise AttackError(f"online reference attacks need at least 2 reference models, got {count}")
    cand_pool = Pool(tuple(candidates))
    n_cand = len(cand_pool)
    # Balanced inclusion: for every candidate, a random half of the models take it.
    rng = np.random.default_rng(derive_seed(seed, cand_pool.fingerprint(), population.fingerprint(), count, "keep"))
    order = np.argsort(rng.random((count, n_cand)), axis=0)
    keep = order < count // 2
    per_model_in = int(round(keep.sum(axis=1).mean()))
    total = reference_train_size(spec, 2 * per_model_in + len(population), train_size)
    fill = int(min(max(0, total - per_model_in), len(population) // 2))
    pool = Pool((*candidates, population))
    masks = []
    for i in range(count):
        mask = np.zeros(len(pool), dtype=bool)
        mask[:n_cand] = keep[i]
        if fill:
            fill_rng = np.random.default_rng(derive_seed(seed, pool.fingerprint(), fill, "fill", i))
            mask[n_cand + fill_rng.choice(len(population), size=fill, replace=False)] = True
        masks.append(mask)
    models = _train_all(provider, spec, pool, masks, seed=seed, kind="online")
    return ReferenceSet(spec=spec, pool=pool, models=models, kind="online")


def _train_all(
    provider: ReferenceModels, spec: ReferenceSpec, pool: Pool, masks: list[np.ndarray], *, seed: int, kind: str
) -> list[ReferenceModel]:
    """Model i of ``masks``: trained (or loaded) on the pool's images under ``masks[i]``, with its own seed."""
    images, labels = pool.images(), pool.labels()
    splits, indices = pool.split_names(), pool.source_indices()
    models = []
    for i, mask in enumerate(masks):
        trained_on = {str(s): np.sort(indices[mask & (splits == s)]) for s in np.unique(splits[mask])}
        models.append(provider.model(
            spec, images[mask], labels[mask], trained_on=trained_on, sources=pool.sources(),
            seed=derive_seed(seed, kind, i, "reference-model"), index=i,
        ))
    return models
