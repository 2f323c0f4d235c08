"""Which images an annotation measures on: the member pool and the test split, and why these.

The member pool is the split the card says the model was trained on (only the trained-on images when the
model saw part of a split). When the full training split is absent (MNIST without its 60k training file),
the data layer picks a subset of it that is present (MNIST: the 5,000-image `train_subset_5k`); the split
used and the reason are recorded with every result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from securitynet.catalog.card import ModelCard
from securitynet.errors import CardError, DatasetError

# A capped split is a seeded random subset (not the first images: some files are sorted by class).
SUBSET_SEED = 0


@dataclass(frozen=True)
class ResolvedSplits:
    """The images an annotation uses, and why these."""

    member: Any  # ArraySplit
    test: Any  # ArraySplit
    member_note: str
    max_images: int | None

    def params(self) -> dict[str, Any]:
        """The resolved choice: splits, sizes and the subset seed of capped splits."""
        params: dict[str, Any] = {
            "dataset": self.member.dataset,
            "member_split": self.member.split,
            "test_split": self.test.split,
            "n_member": len(self.member),
            "n_test": len(self.test),
            "max_images": self.max_images,
        }
        if self.max_images is not None:
            params["subset_seed"] = SUBSET_SEED
        return params

    def data(self) -> dict[str, Any]:
        """Provenance: each split's name, size, fingerprint and source file, and why this member pool."""
        return {
            "dataset": self.member.dataset,
            "splits": {
                "member": {"split": self.member.split, "n": len(self.member),
                           "fingerprint": self.member.fingerprint(), "source": self.member.source},
                "test": {"split": self.test.split, "n": len(self.test),
                         "fingerprint": self.test.fingerprint(), "source": self.test.source},
            },
            "n_images": len(self.member) + len(self.test),
            "member_pool": self.member_note,
        }


def _member(card: ModelCard, info: Any, requested: str | None) -> tuple[Any, str]:
    """The member pool and why: the card's training split, or the data's best stand-in for it."""
    from securitynet.data import load_split, resolve_member_split

    if requested:
        return load_split(info, requested), f"{requested} (chosen explicitly)"
    if card.training_indices is not None:
        # A model trained on part of a split: only those images are members; the rest of the split
        # would dilute its train accuracy towards its test accuracy.
        if card.training_split is None:
            raise CardError(f"model card {card.id} does not record the split it was trained on")
        split = load_split(info, card.training_split)
        pool = split.subset(split.positions_of(np.asarray(card.training_indices, dtype=np.int64)))
        return pool, f"the {len(pool)} images of {card.training_split!r} the model was trained on"
    wanted = card.training_split or (info.member_splits[0] if info.member_splits else None)
    if wanted is None:
        raise DatasetError(f"model {card.id}: neither its card nor dataset {info.name} names a training split")
    if info.member_splits and wanted == info.member_splits[0]:
        # The full training split may be absent (MNIST's 60k file); the data layer picks a present subset.
        split_name, reason = resolve_member_split(info)
        if split_name is None:
            raise DatasetError(f"model {card.id}: {reason}")
        return load_split(info, split_name), reason
    return load_split(info, wanted), f"{wanted!r} is the split the card says the model was trained on"


def _test(info: Any, requested: str | None) -> Any:
    from securitynet.data import load_split

    if requested:
        return load_split(info, requested)
    if "test" in info.splits:
        return load_split(info, "test")
    if info.nonmember_split is None:
        raise DatasetError(f"dataset {info.name} has neither a 'test' nor a held-out split")
    return load_split(info, info.nonmember_split)


def _cap(split: Any, max_images: int | None) -> Any:
    if max_images is None or len(split) <= max_images:
        return split
    rng = np.random.default_rng(SUBSET_SEED)
    return split.subset(np.sort(rng.choice(len(split), size=max_images, replace=False)))


def resolve_splits(
    card: ModelCard,
    *,
    member_split: str | None = None,
    test_split: str | None = None,
    max_images: int | None = None,
) -> ResolvedSplits:
    """Choose and load the member pool and the test split for a card (explicit names win)."""
    from securitynet.data import get_dataset

    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be positive, got {max_images}")
    info = get_dataset(card.dataset)
    member, note = _member(card, info, member_split)
    test = _test(info, test_split)
    if member.split == test.split:
        raise DatasetError(f"member pool and test split of {card.id} are both {member.split!r}")
    return ResolvedSplits(_cap(member, max_images), _cap(test, max_images), note, max_images)
