"""Which reference (shadow) model imitates a target: architecture, preprocessing and recipe.

Shadow-model attacks (Shokri et al. 2017), shadow thresholds (Song and Mittal 2021), LiRA (Carlini et al.
2022) and RMIA (Zarifzadeh et al. 2024) all need models that imitate the target, trained by the attacker
on data whose membership it knows. `reference_spec` chooses them, in order of preference:

1. a self-trained target (its card carries its recipe): the same architecture, arguments, input
   preprocessing and training recipe, and the same training-set size;
2. a target whose card names a buildable architecture with logit outputs, at most ``max_params``
   parameters, at most ``max_macs`` multiply-accumulates per image (counted over its convolution and
   linear layers on one input, `securitynet.zoo.macs`) and 2-D input of at most 64 px a side, i.e.
   trainable on a CPU in minutes (LeNet-5 class: a few million MACs; a CIFAR ResNet-20 has 41 million and
   falls back unless the budget is raised, e.g. on a GPU): that architecture with the target's
   preprocessing and `DEFAULT_RECIPE`, since a public model's recipe is unknown;
3. otherwise a documented fallback from `securitynet.zoo.archs.small` (``small_cnn`` by default) at
   the dataset's resolution capped at 32 px (images are resized on the way in), or an MLP on the
   flattened volume for 3-D data. Models with probability outputs (a softmax inside) also fall back:
   the trainer's loss expects logits.
"""

from __future__ import annotations

from typing import Any

from securitynet.attacks.base import AttackError
from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.zoo.macs import multiply_accumulates
from securitynet.zoo.reference_spec import DEFAULT_RECIPE, ReferenceSpec

DEFAULT_MAX_PARAMS = 3_000_000
DEFAULT_MAX_MACS = 20_000_000
MAX_TRAINABLE_SIDE = 64
FALLBACK_SIDE = 32
FALLBACK_ARCHITECTURES = ("small_cnn", "wrn", "lenet", "mlp")


def reference_spec(
    card: ModelCard,
    *,
    epochs: int | None = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    max_macs: int = DEFAULT_MAX_MACS,
    fallback: str = "small_cnn",
) -> ReferenceSpec:
    """The reference-model spec for a target (see the module docstring for the order of preference).

    ``epochs`` overrides the number of training epochs of whichever recipe is chosen.
    """
    if fallback not in FALLBACK_ARCHITECTURES:
        raise AttackError(f"fallback architecture must be one of {FALLBACK_ARCHITECTURES}, got {fallback!r}")
    if card.num_classes is None:
        raise AttackError(f"{card.id}: the card does not say how many classes the model has")
    spec = (
        _self_trained_spec(card)
        or _same_architecture_spec(card, max_params, max_macs)
        or _fallback_spec(card, fallback, max_params, max_macs)
    )
    if epochs is not None:
        spec = spec.with_epochs(epochs)
    return spec


def _spec_for(
    card: ModelCard,
    architecture: str,
    arch_kwargs: dict[str, Any],
    input_spec: InputSpec,
    *,
    origin: str,
    recipe: Any = DEFAULT_RECIPE,  # a TrainRecipe (zoo.train), reached through the spec only
) -> ReferenceSpec:
    """A spec imitating ``card``: its dataset, classes and training-set size, with this model and recipe."""
    return ReferenceSpec(
        dataset=card.dataset,
        architecture=architecture,
        arch_kwargs=arch_kwargs,
        input_spec=input_spec,
        num_classes=int(card.num_classes),  # type: ignore[arg-type]
        recipe=recipe,
        target_train_size=card.train_size,
        origin=origin,
    )


def _self_trained_spec(card: ModelCard) -> ReferenceSpec | None:
    if not isinstance(card.extra.get("recipe"), dict):
        return None
    from securitynet.zoo.selftrained import recipe_from_card

    recipe = recipe_from_card(card)
    spec = recipe.input_spec or card.input
    if spec is None:
        return None
    return _spec_for(
        card, recipe.architecture, dict(recipe.arch_kwargs), spec, recipe=recipe.train,
        origin="the target's own architecture and training recipe (self-trained, recipe on its card)",
    )


def _same_architecture_spec(card: ModelCard, max_params: int, max_macs: int) -> ReferenceSpec | None:
    from securitynet.zoo.archs import build_architecture

    spec = card.input
    if not card.architecture or spec is None or card.output_kind != "logits":
        return None
    if len(spec.size) != 2 or max(spec.size) > MAX_TRAINABLE_SIDE or spec.resize_shorter is not None:
        return None
    try:
        module = build_architecture(card.architecture, card.num_classes, **card.arch_kwargs)
    except Exception:  # not buildable here (unknown id, missing package): fall back, the reason is recorded
        return None
    params = sum(p.numel() for p in module.parameters())
    if params > max_params:
        return None
    try:
        macs = multiply_accumulates(module, spec)
    except Exception:  # the module cannot take the card's input: not a usable reference architecture
        return None
    if macs > max_macs:
        return None
    return _spec_for(
        card, card.architecture, dict(card.arch_kwargs), spec,
        origin=(
            f"the target's architecture ({card.architecture}, {params} parameters, {macs} multiply-accumulates "
            "per image) with the default reference recipe: the target's own recipe is unknown"
        ),
    )


def _fallback_spec(card: ModelCard, fallback: str, max_params: int, max_macs: int) -> ReferenceSpec:
    from securitynet.data import get_dataset

    info = get_dataset(card.dataset)
    shape = tuple(info.image_shape)
    why = _why_not_same(card, max_params, max_macs)
    if len(shape) == 3 and shape[-1] not in (1, 3, 4):  # (D, H, W) grey volume: an MLP on the flat volume
        depth, height, width = shape
        return _spec_for(
            card, "mlp", {"in_channels": depth, "input_size": [height, width], "hidden": [256, 128]},
            InputSpec(channels=1, size=(depth, height, width)),
            origin=f"fallback: an MLP on the flattened {depth}x{height}x{width} volume ({why})",
        )
    channels = shape[-1] if len(shape) == 3 else 1
    side = min(max(shape[:2]), FALLBACK_SIDE)
    kwargs: dict[str, Any] = {"in_channels": channels, "input_size": side}
    return _spec_for(
        card, fallback, kwargs, InputSpec(channels=channels, size=(side, side)),
        origin=f"fallback: {fallback} at {side}x{side} px with the default reference recipe ({why})",
    )


def _why_not_same(card: ModelCard, max_params: int, max_macs: int) -> str:
    if not card.architecture:
        return "the card names no architecture"
    if card.output_kind != "logits":
        return f"the target outputs {card.output_kind}, the trainer needs logits"
    if card.input is None:
        return "the card has no input spec"
    if len(card.input.size) != 2 or max(card.input.size) > MAX_TRAINABLE_SIDE or card.input.resize_shorter:
        return f"input {tuple(card.input.size)} is too large to train reference models on a CPU"
    return (
        f"{card.architecture} is not buildable here, or exceeds {max_params} parameters or {max_macs} "
        "multiply-accumulates per image"
    )

