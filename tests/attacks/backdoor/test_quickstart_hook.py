"""The quickstart hook: a small trojan zoo in the store, and runnable detector names and parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from securitynet.attacks import get_attack
from securitynet.attacks.backdoor.quickstart import PUBLIC_MNIST_IDS, SMALL_PARAMS, backdoor_quickstart


def test_every_quickstart_detector_exists_and_takes_its_parameters() -> None:
    for name, params in SMALL_PARAMS.items():
        attack = get_attack(name)
        assert attack(params).params_dict()  # validated: unknown or ill-typed parameters would raise


@pytest.mark.slow
def test_quickstart_builds_its_zoo_into_the_store(store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    plan = backdoor_quickstart(store, small=True, device="cpu", progress=False)
    attacks = [card.backdoor.attack for card in plan.zoo_cards]
    assert attacks.count("none") == 2 and len(attacks) == 6 and {"badnets", "blended"} <= set(attacks)
    assert set(plan.attacks) == set(SMALL_PARAMS) and plan.params == SMALL_PARAMS
    for card in plan.zoo_cards:
        assert store.get_card(card.id).backdoor == card.backdoor
    assert set(plan.models) >= {card.id for card in plan.zoo_cards}
    assert set(plan.public_ids) <= set(PUBLIC_MNIST_IDS)
    if plan.dataset == "mnist":  # the public MNIST models are built-in cards: found without registering them
        assert plan.public_ids == list(PUBLIC_MNIST_IDS)
