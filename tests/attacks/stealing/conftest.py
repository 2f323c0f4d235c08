"""Fixtures of the stealing tests: a small digits target trained in a second, and a way to run the attack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from securitynet.attacks import AttackResult, get_attack
from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.engine.access import view_for
from securitynet.engine.cache import PosteriorCache
from securitynet.engine.context import JobContext
from securitynet.zoo.target import TargetModel

DIGITS_SPEC = InputSpec(channels=1, size=(8, 8))


def digits_card(**changes: Any) -> ModelCard:
    fields: dict[str, Any] = {
        "id": "test/digits-mlp", "name": "digits-mlp", "source": "test", "architecture": "mlp",
        "arch_kwargs": {"in_channels": 1, "input_size": 8, "hidden": [64]}, "dataset": "digits",
        "num_classes": 10, "input": DIGITS_SPEC,
    }
    fields.update(changes)
    return ModelCard(**fields)


@pytest.fixture(scope="session")
def digits_target() -> TargetModel:
    """An MLP trained on digits 'train' (about 94% test accuracy)."""
    from securitynet.data import load_split
    from securitynet.zoo.train import train_architecture

    card = digits_card()
    train = load_split("digits", "train")
    module, _ = train_architecture(
        "mlp", train.images, train.labels, num_classes=10, input_spec=DIGITS_SPEC, arch_kwargs=card.arch_kwargs,
        epochs=30, seed=0, device="cpu",
    )
    return TargetModel(card=card, module=module, device=torch.device("cpu"))


RunAttack = Callable[..., tuple[AttackResult, JobContext, Any]]


@pytest.fixture
def run_knockoff(tmp_path: Path) -> RunAttack:
    """Run stealing.knockoff on a target outside any engine run: (result, context, target view)."""
    cache = PosteriorCache(tmp_path / "cache")

    def run(target: TargetModel, params: dict[str, Any], *, seed: int = 0, access: str = "posterior",
            key: str = "job") -> tuple[AttackResult, JobContext, Any]:
        attack = get_attack("stealing.knockoff")(params)
        ctx = JobContext.standalone(target.card, seed=seed, access=access, device="cpu", cache=cache,
                                    artifacts_root=tmp_path / "artifacts", job_key=key)
        view = view_for(target, access)
        return attack.run(view, ctx), ctx, view

    return run
