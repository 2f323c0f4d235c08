"""Card -> TargetModel: build the architecture, fetch and verify the weights, load them safely."""

from __future__ import annotations

from pathlib import Path

import torch

from securitynet.catalog.card import ModelCard
from securitynet.catalog.lookup import find_card
from securitynet.errors import WeightsError
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.target import TargetModel, default_device
from securitynet.zoo.weights import fetch_weights, load_state_dict_file, sha256_file


def build_module(card: ModelCard) -> torch.nn.Module:
    if not card.architecture:
        raise WeightsError(f"model card {card.id} names no architecture, so it cannot be built")
    kwargs = dict(card.arch_kwargs)
    # A card may pin num_classes in its arch_kwargs (e.g. a head wider than its label set); that wins.
    num_classes = kwargs.pop("num_classes", card.num_classes)
    return build_architecture(card.architecture, num_classes, **kwargs)


def load_target(
    card: str | ModelCard,
    *,
    store: object | None = None,
    device: str | torch.device | None = None,
    pretrained: bool = True,
    weights_path: str | Path | None = None,
) -> TargetModel:
    """Load a model by card id (or card). `pretrained=False` gives random weights (offline checks)."""
    if isinstance(card, str):
        card = find_card(card, store)
    module = build_module(card)
    weight_hash = None
    if pretrained:
        path = Path(weights_path) if weights_path is not None else fetch_weights(card)
        state = load_state_dict_file(path, card.weights)
        try:
            module.load_state_dict(state, strict=card.weights.strict)
        except RuntimeError as exc:
            raise WeightsError(
                f"weights {path.name} do not fit architecture {card.architecture} of {card.id}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        weight_hash = card.weight_hash or f"sha256:{sha256_file(path)}"
    return TargetModel(
        card=card,
        module=module,
        weight_hash=weight_hash,
        device=torch.device(device) if device is not None else default_device(),
    )
