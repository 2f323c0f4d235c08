"""ctx.membership: members of a model trained on a subset of its split come from that subset only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.data import load_split
from securitynet.engine.context import JobContext
from securitynet.errors import DatasetError


def _card(**changes: object) -> ModelCard:
    fields: dict[str, object] = {
        "id": "test/digits-subset", "name": "digits-subset", "source": "test", "architecture": "mlp",
        "dataset": "digits", "num_classes": 10, "input": InputSpec(channels=1, size=(8, 8)),
        "training_split": "train",
    }
    fields.update(changes)
    return ModelCard(**fields)


def _ctx(card: ModelCard, tmp_path: Path, seed: int = 0) -> JobContext:
    return JobContext.standalone(card, seed=seed, access="posterior", device="cpu", artifacts_root=tmp_path)


def test_members_are_drawn_from_the_training_subset_only(tmp_path: Path) -> None:
    full = load_split("digits", "train")
    subset = np.sort(np.random.default_rng(0).choice(full.indices, size=120, replace=False)).tolist()
    card = _card(training_indices=subset)
    for seed in range(3):
        sample = _ctx(card, tmp_path, seed).membership(50)
        assert len(sample.members) == 50 and set(sample.members.indices) <= set(subset)
    # Without the subset the same draw reaches the rest of the split.
    unrestricted = _ctx(_card(), tmp_path).membership(50)
    assert not set(unrestricted.members.indices) <= set(subset)


def test_more_members_than_the_subset_holds_shrink_both_sides(tmp_path: Path) -> None:
    subset = load_split("digits", "train").indices[:30].tolist()
    sample = _ctx(_card(training_indices=subset), tmp_path).membership(100)
    assert len(sample.members) == len(sample.nonmembers) == 30
    assert sorted(sample.members.indices.tolist()) == sorted(subset)


def test_members_from_another_split_than_the_subset_are_refused(tmp_path: Path) -> None:
    card = _card(training_indices=load_split("digits", "train").indices[:30].tolist())
    with pytest.raises(DatasetError, match="trained on a subset of 'train'; members cannot come from 'test'"):
        _ctx(card, tmp_path).membership(10, member_split="test")
    with pytest.raises(DatasetError, match="also the non-member split"):
        _ctx(card, tmp_path).membership(10, nonmember_split="train")
