"""Card -> TargetModel: build the architecture, fetch and verify the weights, load them safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from securitynet.catalog.builtin import find_card
from securitynet.catalog.card import ModelCard
from securitynet.errors import WeightsError
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.devices import resolve_device
from securitynet.zoo.layout import compare, layout_of
from securitynet.zoo.target import TargetModel
from securitynet.zoo.weights import fetch_weights, load_state_dict_file, sha256_file, try_fetch


def build_module(card: ModelCard) -> torch.nn.Module:
    if not card.architecture:
        raise WeightsError(f"model card {card.id} names no architecture, so it cannot be built")
    kwargs = dict(card.arch_kwargs)
    # A card may pin num_classes in its arch_kwargs (e.g. a head wider than its label set); that wins.
    num_classes = kwargs.pop("num_classes", card.num_classes)
    return build_architecture(card.architecture, num_classes, **kwargs)


def _names(names: list[str], shapes: dict[str, tuple[int, ...]], limit: int = 3) -> str:
    shown = ", ".join(f"{name} {shapes[name]}" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def describe_misfit(state: dict[str, torch.Tensor], module: torch.nn.Module, *, strict: bool = True) -> str | None:
    """Which entries of a state dict do not fit a module, first ones named with their shapes; None if all fit.

    Torch's load_state_dict message lists every key on one line per problem; the first entries with their
    shapes (and the hint a last-layer mismatch usually deserves) are what a user can act on.
    """
    in_file = layout_of_state(state)
    in_model = layout_of(module)
    not_in_model, not_in_file, mismatched = compare(in_file, in_model, allow_missing=not strict)
    parts = []
    if mismatched:
        name, (file_shape, model_shape) = next(iter(mismatched.items()))
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        parts.append(f"{name} is {file_shape} in the file but {model_shape} in the model{more}")
    if not_in_file and strict:
        parts.append(f"missing from the file: {_names(not_in_file, in_model)}")
    if not_in_model:
        parts.append(f"unexpected in the file: {_names(not_in_model, in_file)}")
    if not parts:
        return None
    hint = " (is the card's num_classes right?)" if mismatched and _last_layer(mismatched, in_model) else ""
    return "; ".join(parts) + hint


def layout_of_state(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(value.shape) for name, value in state.items() if isinstance(value, torch.Tensor)}


def _last_layer(mismatched: dict[str, Any], model: dict[str, tuple[int, ...]]) -> bool:
    """Whether a mismatch is in the module's last weights: the output layer, sized by num_classes."""
    last = list(model)[-2:]
    return any(name in last for name in mismatched)


def fetch_and_pin(card: ModelCard, store: object | None = None) -> tuple[Path, ModelCard]:
    """The card's verified weight file, and the card as pinned by this fetch (stored when `store` is given)."""
    outcome = try_fetch(card)
    if outcome.error is not None or outcome.path is None:
        raise outcome.error or WeightsError(f"weights of {card.id} could not be fetched")
    pinned = outcome.pinned_card
    if pinned is not None and pinned != card:
        if store is not None:
            store.upsert_card(pinned)  # type: ignore[attr-defined]
        card = pinned
    return outcome.path, card


def load_target(
    card: str | ModelCard,
    *,
    store: object | None = None,
    device: str | torch.device | None = None,
    pretrained: bool = True,
    weights_path: str | Path | None = None,
) -> TargetModel:
    """Load a model by card id (or card). `pretrained=False` gives random weights (offline checks).

    With a `store`, a card id is looked up there first, and a card whose weights were pinned on this fetch (a Hub
    revision and the sha256 the Hub reports) is written back, so every later use checks that hash.
    """
    if isinstance(card, str):
        card = find_card(card, store)
    device = resolve_device(device)
    if card.weights.format == "onnx":
        return _load_onnx(card, device, pretrained=pretrained, weights_path=weights_path)
    module = build_module(card)
    weight_hash = None
    if pretrained:
        if weights_path is not None:
            path = Path(weights_path)
        else:
            path, card = fetch_and_pin(card, store)
        state = load_state_dict_file(path, card.weights)
        try:
            module.load_state_dict(state, strict=card.weights.strict)
        except RuntimeError as exc:
            misfit = describe_misfit(state, module, strict=card.weights.strict) or str(exc).splitlines()[0]
            raise WeightsError(
                f"weights {path.name} do not fit architecture {card.architecture} of {card.id}: {misfit}"
            ) from None
        weight_hash = card.weight_hash or f"sha256:{sha256_file(path)}"
    return TargetModel(card=card, module=module, weight_hash=weight_hash, device=device)


def _load_onnx(
    card: ModelCard, device: torch.device, *, pretrained: bool, weights_path: str | Path | None
) -> TargetModel:
    from securitynet.zoo.onnx_target import load_onnx_target

    if not pretrained:
        raise WeightsError(
            f"model {card.id} is an ONNX file: its weights are part of its graph, so it has no random-weights version"
        )
    path = Path(weights_path) if weights_path is not None else fetch_weights(card)
    weight_hash = card.weight_hash or f"sha256:{sha256_file(path)}"
    return load_onnx_target(card, path, device=device, weight_hash=weight_hash)
