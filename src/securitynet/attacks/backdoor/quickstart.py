"""The backdoor part of `make run`: a small trojan zoo, and the detectors to run on it and on the public models.

`backdoor_quickstart` trains (or reuses) a few clean and backdoored MLPs on the MNIST 5k training subset (on
scikit-learn digits when MNIST is not here), stores their cards, and returns what the quickstart should
evaluate: the model ids (the zoo and the five public MNIST models when MNIST is here) and every detector
with parameters cut down so the whole step takes a minute or two on two CPU cores. The cut-down budgets
are the quickstart's only: the detectors' defaults are the full-strength settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from securitynet.catalog.card import ModelCard

PUBLIC_MNIST_IDS: tuple[str, ...] = (
    "file/lenet5_advertorch_clean",
    "file/lenet5_advertorch_advtrained",
    "file/mnistnet_shrinkbench",
    "file/badnet_verazuo_mnist",
    "file/mlp_backdoored_cs612",
)

SMALL_PARAMS: dict[str, dict[str, Any]] = {
    "backdoor.neural_cleanse": {"n_images": 200, "batch_size": 16, "steps_per_epoch": 5, "max_epochs": 30},
    "backdoor.strip": {"n_inputs": 100, "n_calibration": 100, "n_overlay": 16, "n_overlay_pool": 200},
    "backdoor.abs": {"images_per_class": 2, "n_eval_images": 200, "steps": 80},
    "backdoor.mntd": {"n_shadow_clean": 16, "n_shadow_trojaned": 16, "shadow_architectures": "mlp",
                      "shadow_train_size": 1000, "shadow_epochs": 4, "meta_epochs": 40},
}


@dataclass
class BackdoorQuickstart:
    """What to evaluate: ``models`` (ids) x ``attacks`` with ``params`` (attack name -> parameter dict)."""

    zoo_cards: list[ModelCard]
    public_ids: list[str]
    attacks: list[str]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset: str = "mnist"

    @property
    def models(self) -> list[str]:
        return [card.id for card in self.zoo_cards] + list(self.public_ids)


def backdoor_quickstart(
    store: Any, *, small: bool = True, device: str | None = None, progress: bool = True
) -> BackdoorQuickstart:
    """Build (or reuse) the quickstart's trojan zoo into ``store`` and return the detectors to run.

    ``small``: 2 clean and 4 backdoored MLPs trained for a few epochs, and cut-down detector budgets; otherwise
    a zoo of 10 + 10 and the detectors' default parameters.
    """
    from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec, build_trojan_zoo

    dataset = "mnist" if _mnist_available() else "digits"
    counts = (2, 4) if small else (10, 10)
    spec = TrojanZooSpec(
        dataset=dataset,
        n_clean=counts[0],
        n_trojaned=counts[1],
        attacks=("badnets", "blended") if small else ("badnets", "blended", "wanet"),
        seed=0,
        architectures=("mlp",) if small else None,
        epochs=3 if small and dataset == "mnist" else None,
        name="quickstart" if small else "trojan",
    )
    cards = build_trojan_zoo(spec, store=store, device=device, progress=progress)
    public = [model_id for model_id in PUBLIC_MNIST_IDS if dataset == "mnist" and _has_card(store, model_id)]
    attacks = list(SMALL_PARAMS)
    params = {name: dict(values) for name, values in SMALL_PARAMS.items()} if small else {}
    return BackdoorQuickstart(zoo_cards=cards, public_ids=public, attacks=attacks, params=params, dataset=dataset)


def _mnist_available() -> bool:
    """Whether MNIST's held-out split and one of its training splits are on disk."""
    from securitynet.data import get_dataset, locate_split
    from securitynet.errors import DatasetError

    info = get_dataset("mnist")

    def located(split: str) -> bool:
        return _succeeds(lambda: locate_split(info, split), DatasetError)

    return located(info.nonmember_split) and any(located(split) for split in info.member_splits)


def _has_card(store: Any, model_id: str) -> bool:
    from securitynet.catalog.builtin import find_card
    from securitynet.errors import SecurityNetError

    return _succeeds(lambda: find_card(model_id, store), SecurityNetError)


def _succeeds(action: Callable[[], object], error: type[Exception]) -> bool:
    """Whether ``action()`` runs without raising ``error`` (something absent here, not a bug)."""
    try:
        action()
    except error:
        return False
    return True
