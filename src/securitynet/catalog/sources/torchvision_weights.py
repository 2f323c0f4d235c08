"""torchvision's pretrained classifiers: one card per classification weight enum value of the installed torchvision.

`torchvision.models.list_models(module=torchvision.models)` names the classification builders (detection,
segmentation, video, optical flow and quantized models live in sub-modules and are not listed), and
`get_model_weights(name)` their weight enums (`ResNet50_Weights.IMAGENET1K_V2`, ...); a classification weight is
one with categories (VGG16's feature-only weights have none). Each value gives its
categories, its published ImageNet-1k acc@1 (stored as published, in [0, 1]), its evaluation transform
(resize the shorter side, centre-crop, mean/std, interpolation) and its URL, whose file name ends in
`-<first hex digits of the sha256>.pth`: the prefix torch.hub's `check_hash` checks, and so do we.

A few builders change the architecture when given weights; the card's `arch_kwargs` says the same, so that
`torchvision.models.get_model(name, weights=None, **arch_kwargs)` takes the state dict: Inception-v3 and GoogLeNet
are built with their auxiliary heads and `transform_input=True`, ViTs with the weights' image size.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo, PublishedAnnotation
from securitynet.catalog.sources.card_template import card_defaults, make_card
from securitynet.catalog.sources.timm_hub import url_weights
from securitynet.errors import CardError

SOURCE = "torchvision"
ID_PREFIX = f"{SOURCE}/"
METRICS_DATASET = "ImageNet-1K"
# Builders that, given weights, build with these arguments (torchvision's `_ovewrite_named_param` calls).
WEIGHTED_BUILD_KWARGS = {
    "googlenet": {"transform_input": True, "aux_logits": True, "init_weights": False},
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
}


def _torchvision_version() -> str:
    import torchvision

    return torchvision.__version__


@lru_cache(maxsize=1)
def weight_names() -> tuple[tuple[str, str], ...]:
    """(builder, `Enum.VALUE`) for every classification weight of the installed torchvision: those with
    categories (VGG16_Weights.IMAGENET1K_FEATURES, a feature extractor without a classifier, has none)."""
    import torchvision
    from torchvision.models import get_model_weights, list_models

    return tuple((name, str(weights)) for name in list_models(module=torchvision.models)
                 for weights in get_model_weights(name) if weights.meta.get("categories"))


def iter_cards() -> Iterator[ModelCard]:
    return (card_for(name, weights) for name, weights in weight_names())


def card_for_id(weights_name: str) -> ModelCard | None:
    """The card `torchvision/<Enum.VALUE>` alone (None: no classification weights of that exact name)."""
    builder = next((b for b, w in weight_names() if w == weights_name), None)
    return card_for(builder, weights_name) if builder else None


def card_id_of(weights: str) -> str:
    return f"{ID_PREFIX}{weights}"


def resolve(name: str) -> tuple[str, str]:
    """(builder, weights) for `resnet50` (its DEFAULT weights), `ResNet50_Weights.IMAGENET1K_V2` or
    `resnet50.IMAGENET1K_V2`."""
    from torchvision.models import get_model_weights, get_weight

    if "_Weights." in name:
        try:
            weights = get_weight(name)
        except (ValueError, KeyError, AttributeError):
            raise CardError(f"torchvision {_torchvision_version()} has no weights {name!r}") from None
        builder = next((b for b, w in weight_names() if w == str(weights)), None)
        if builder is None:
            raise CardError(f"torchvision weights {name!r} are not those of an image classifier")
        return builder, str(weights)
    builder, _, value = name.partition(".")
    if builder not in {b for b, _ in weight_names()}:
        raise CardError(f"torchvision {_torchvision_version()} has no classification model {builder!r}")
    enum = get_model_weights(builder)
    try:
        weights = enum[value] if value else enum.DEFAULT
    except KeyError:
        raise CardError(f"torchvision model {builder!r} has no weights {value!r}; it has "
                        f"{', '.join(w.name for w in enum)}") from None
    return builder, str(weights)


def _weights(name: str) -> Any:
    from torchvision.models import get_weight

    return get_weight(name)


def input_spec(weights: Any) -> InputSpec:
    """The weights' evaluation transform (`weights.transforms`, an ImageClassification preset) as an input spec."""
    preset = weights.transforms()
    crop = preset.crop_size[0]
    resize = preset.resize_size[0]
    mode = getattr(preset.interpolation, "value", str(preset.interpolation))
    return InputSpec(
        channels=3,
        size=(crop, crop),
        mean=tuple(preset.mean),
        std=tuple(preset.std),
        resize_shorter=resize if resize >= crop else None,
        center_crop=resize >= crop,
        interpolation=mode if mode in ("bilinear", "bicubic") else "bilinear",
    )


DEFAULTS = card_defaults(
    SOURCE, dataset="imagenet", data_category="image", purpose="benchmark", tags=[SOURCE],
    missing_reasons={
        "published.train_accuracy": "torchvision publishes only the ImageNet-1k validation accuracy",
        "published.overfit_gap": "needs the training accuracy, which torchvision does not publish",
        "train_size": "torchvision's metadata does not say how many training images were used",
        "weights.sha256": "torchvision publishes the sha256 prefix in the file name only (checked)",
    },
)


def card_for(builder: str, weights_name: str) -> ModelCard:
    weights = _weights(weights_name)
    meta = weights.meta
    metrics = meta.get("_metrics", {}).get(METRICS_DATASET, {})
    acc1 = metrics.get("acc@1")
    acc1 = None if acc1 is None or acc1 != acc1 else acc1  # NaN: not published
    categories = list(meta["categories"])
    arch_kwargs = dict(WEIGHTED_BUILD_KWARGS.get(builder, {}))
    if builder.startswith("vit_") and tuple(meta.get("min_size", (224, 224))) != (224, 224):
        arch_kwargs["image_size"] = meta["min_size"][0]
    missing = {}
    if acc1 is None:
        missing["published.test_accuracy"] = f"torchvision publishes no {METRICS_DATASET} acc@1 for these weights"
    if not meta.get("license"):
        missing["license"] = "torchvision's metadata names no license for these weights (the library is BSD-3-Clause)"
    return make_card(
        DEFAULTS,
        id=card_id_of(weights_name),
        name=weights_name,
        architecture=f"torchvision:{builder}",
        arch_kwargs=arch_kwargs,
        model_type=builder,
        num_classes=len(categories),
        input=input_spec(weights),
        weights=url_weights(weights.url),
        license=meta.get("license"),
        paper=PaperInfo(url=meta.get("recipe")),
        published=PublishedAnnotation(test_accuracy=None if acc1 is None else round(acc1 / 100, 6),
                                      source=f"torchvision {_torchvision_version()} weights metadata "
                                             f"({METRICS_DATASET} acc@1, {acc1}%)"),
        missing_reasons=missing,
        extra={"categories": categories, "torchvision_version": _torchvision_version(), "acc@1_percent": acc1,
               "recipe": meta.get("recipe"), "num_params": meta.get("num_params")},
    )
