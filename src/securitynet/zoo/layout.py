"""Checkpoint-layout check without any download: does the architecture a card builds have exactly the
parameter and buffer names and shapes of the source's checkpoints?

The expected layout comes from wherever the source documents it:

- pytorchcv: pytorchcv's own constructor, built as imgclsmob trained it (without the card's evaluation
  kwargs, e.g. NTS-Net's aux head); a card that loads non-strictly may lack checkpoint entries, never add any;
- medmnist: ``catalog/cards/medmnist_layout.json`` (recorded from the official MedMNIST models);
- adversary_loss_landscape: ``catalog/cards/adversary_loss_landscape_layout.json`` (recorded from the release's
  ``util/models.py``);
- robust_imagenet: ``catalog/cards/robust_imagenet_layout.json`` for the architectures the robustness library
  builds, torchvision's own state dict for the ones it wraps. Beyond names and shapes, the card's checkpoint
  reading is checked too: a robustness-style checkpoint dict with every wrapper key (the classifier, the
  attacker's copy, both normalisers) is reduced by the card's ``inner_key``/``key_prefix`` to exactly the layout.

Published cards are checked as the source card they are linked to (``extra["matched_card"]``). Modules are
built on the meta device (shapes only, no memory, no initialisation), falling back to the CPU for
architectures that cannot be built there. Recorded layouts fix the number of classes they were recorded with;
the card's architecture is built with that number for the comparison, and the card's own number of classes
is checked by the coverage forward pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from securitynet.catalog.card import ModelCard
from securitynet.errors import SecurityNetError
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.safe_load import extract_state_dict

Layout = dict[str, tuple[int, ...]]


@dataclass
class LayoutCheck:
    """The outcome for one card: `ok` None when the source documents no layout to compare with."""

    card_id: str
    source: str
    reference: str
    ok: bool | None
    missing: list[str] = field(default_factory=list)  # in the checkpoint, not in the built module
    unexpected: list[str] = field(default_factory=list)  # in the built module, not in the checkpoint
    mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)  # (ckpt, built)
    detail: str | None = None

    def summary(self) -> str:
        if self.ok is None:
            return self.detail or "no documented layout"
        if self.ok:
            return f"matches {self.reference}"
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} checkpoint entries missing (e.g. {self.missing[:3]})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected entries (e.g. {self.unexpected[:3]})")
        if self.mismatched:
            name, (want, got) = next(iter(self.mismatched.items()))
            parts.append(f"{len(self.mismatched)} shape mismatches (e.g. {name}: checkpoint {want}, built {got})")
        if self.detail:
            parts.append(self.detail)
        return f"differs from {self.reference}: " + "; ".join(parts)


def source_of(card: ModelCard) -> str:
    """The source whose checkpoints a card loads: the linked source for published cards."""
    link = card.extra.get("link")
    return str(link["source"]) if isinstance(link, dict) and link.get("source") else card.source


def layout_of(module: torch.nn.Module) -> Layout:
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def build_shapes_only(architecture: str, num_classes: int | None, kwargs: dict[str, Any]) -> torch.nn.Module:
    """The module on the meta device (no memory, no initialisation); on the CPU where meta cannot build it."""
    try:
        with torch.device("meta"):
            return build_architecture(architecture, num_classes, **kwargs)
    except SecurityNetError:
        raise
    except Exception:  # noqa: BLE001 - some constructors touch real data while building; the CPU always works
        return build_architecture(architecture, num_classes, **kwargs)


def _json(name: str) -> dict[str, Any]:
    return json.loads(resources.files("securitynet.catalog").joinpath("cards", name).read_text("utf-8"))


@cache
def _recorded(name: str) -> dict[str, Any]:
    return _json(name)


def _as_layout(recorded: dict[str, list[int]]) -> Layout:
    return {name: tuple(shape) for name, shape in recorded.items()}


def compare(expected: Layout, built: Layout, *, allow_missing: bool = False) -> tuple[list, list, dict]:
    """(missing, unexpected, mismatched) between a checkpoint layout and a built module's."""
    missing = [] if allow_missing else [name for name in expected if name not in built]
    unexpected = [name for name in built if name not in expected]
    mismatched = {name: (expected[name], shape) for name, shape in built.items()
                  if name in expected and expected[name] != shape}
    return missing, unexpected, mismatched


# --- the expected layout per source ----------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    layout: Layout
    num_classes: int | None  # the classes the layout was recorded with (the card's architecture is built so)
    reference: str
    allow_missing: bool = False
    checkpoint_prefix: str | None = None  # robustness checkpoints: where the classifier sits in the real file


def _pytorchcv_expected(card: ModelCard, built: torch.nn.Module | None) -> Expected:
    # The model the weights belong to (the card's own name, or the linked pytorchcv card's), not the
    # architecture the card claims: a card pointing at the wrong constructor must fail.
    matched = str(card.extra.get("matched_card") or "")
    name = matched.removeprefix("pytorchcv/") if matched.startswith("pytorchcv/") else card.name
    reference = f"pytorchcv get_model({name!r}) as imgclsmob trained it"
    if built is not None and not card.arch_kwargs and card.architecture == f"pytorchcv:{name}":
        # The card calls the very constructor pytorchcv loads these weights into: no second build needed.
        return Expected(layout_of(built), card.num_classes, reference, allow_missing=not card.weights.strict)
    module = build_shapes_only(f"pytorchcv:{name}", None, {})
    return Expected(layout_of(module), card.num_classes, reference, allow_missing=not card.weights.strict)


def _medmnist_expected(card: ModelCard, built: torch.nn.Module | None) -> Expected | None:
    for key, entry in _recorded("medmnist_layout.json")["layouts"].items():
        if entry["architecture"] == card.architecture and entry["arch_kwargs"] == card.arch_kwargs:
            return Expected(_as_layout(entry["state_dict"]), entry["num_classes"],
                            f"medmnist_layout.json[{key}]")
    return None


def _adversary_loss_landscape_folder(card: ModelCard) -> str | None:
    """The release folder (resnet_cifar10, ...) of the card's checkpoint, or of its linked card's."""
    from securitynet.catalog.sources import adversary_loss_landscape as source

    facts = card.extra.get(source.SOURCE)
    if not facts and card.extra.get("matched_card"):
        matched = source.cards_by_id().get(str(card.extra["matched_card"]))
        facts = matched.extra[source.SOURCE] if matched else None
    path = (facts or {}).get("path") or ""
    return path.split("/")[1] if path.count("/") >= 2 else None


def _adversary_loss_landscape_expected(card: ModelCard, built: torch.nn.Module | None) -> Expected | None:
    folder = _adversary_loss_landscape_folder(card)
    entry = _recorded("adversary_loss_landscape_layout.json")["layouts"].get(folder or "")
    if entry is None:
        return None
    return Expected(_as_layout(entry["state_dict"]), 10, f"adversary_loss_landscape_layout.json[{folder}]")


def _robust_imagenet_arch(card: ModelCard) -> str | None:
    """The release's architecture key (resnet18, densenet, ...) of the card, or of its linked card."""
    from securitynet.catalog.sources import robust_imagenet as source

    facts = card.extra.get(source.SOURCE)
    if not facts and card.extra.get("matched_card"):
        matched = source.cards_by_id().get(str(card.extra["matched_card"]))
        facts = matched.extra[source.SOURCE] if matched else None
    return (facts or {}).get("arch")


def _robust_imagenet_expected(card: ModelCard, built: torch.nn.Module | None) -> Expected | None:
    from securitynet.catalog.sources import robust_imagenet as source

    arch = source.release()["architectures"].get(_robust_imagenet_arch(card) or "")
    if arch is None:
        return None
    if arch["built_by"] == "robustness":
        recorded = _recorded("robust_imagenet_layout.json")["layouts"][arch["robustness_arch"]]["state_dict"]
        return Expected(_as_layout(recorded), 1000, f"robust_imagenet_layout.json[{arch['robustness_arch']}]",
                        checkpoint_prefix=ROBUSTNESS_PREFIX)
    constructor = arch["torchvision_constructor"]
    module = build_shapes_only(f"torchvision:{constructor}", 1000, {})
    return Expected(layout_of(module), 1000, f"torchvision {constructor} (num_classes=1000)",
                    checkpoint_prefix=DUMMY_MODEL_PREFIX)


_EXPECTED = {
    "pytorchcv": _pytorchcv_expected,
    "medmnist": _medmnist_expected,
    "adversary_loss_landscape": _adversary_loss_landscape_expected,
    "robust_imagenet": _robust_imagenet_expected,
}
# DataParallel('module.') around AttackerModel ('model.'); robust-models-transfer wraps torchvision
# classifiers once more in robustness' DummyModel ('model.'). Independent of what a card says, on purpose.
ROBUSTNESS_PREFIX = "module.model."
DUMMY_MODEL_PREFIX = "module.model.model."
ROBUSTNESS_NORMALISERS = ("module.normalizer.", "module.attacker.normalize.")


def robustness_checkpoint_keys(layout: Layout, key_prefix: str) -> dict[str, tuple[int, ...]]:
    """Every key a robustness-library checkpoint of this classifier holds under 'model'."""
    keys: dict[str, tuple[int, ...]] = {f"{key_prefix}{name}": shape for name, shape in layout.items()}
    inner = key_prefix.removeprefix("module.")  # "model." or "model.model."
    for name, shape in layout.items():
        keys[f"module.attacker.{inner}{name}"] = shape
    for normaliser in ROBUSTNESS_NORMALISERS:
        keys[f"{normaliser}new_mean"] = (3, 1, 1)
        keys[f"{normaliser}new_std"] = (3, 1, 1)
    return keys


def _prefix_problem(card: ModelCard, expected: Expected) -> str | None:
    """Whether the card's inner_key/key_prefix reduce a robustness checkpoint to exactly the classifier."""
    assert expected.checkpoint_prefix is not None
    state = {k: torch.empty(shape, device="meta") for k, shape in robustness_checkpoint_keys(
        expected.layout, expected.checkpoint_prefix).items()}
    checkpoint = {card.weights.inner_key or "model": state, "epoch": 1}
    try:
        kept = extract_state_dict(checkpoint, card.weights, Path(f"<robustness-style checkpoint of {card.id}>"))
    except SecurityNetError as exc:
        return f"the card's key mapping fails on a robustness-style checkpoint: {exc}"
    got = {name: tuple(t.shape) for name, t in kept.items()}
    if got != expected.layout:
        extra = sorted(set(got) - set(expected.layout))[:3]
        return f"the card's key mapping keeps {len(got)} entries, not the classifier's {len(expected.layout)} " \
               f"(e.g. extra {extra})"
    return None


def check_card_layout(
    card: ModelCard, *, cache: dict[tuple, LayoutCheck] | None = None, module: torch.nn.Module | None = None
) -> LayoutCheck:
    """Compare the module the card builds with the source's checkpoint layout (no download).

    `module`: the card's architecture already built (with the card's number of classes, on any device), to
    avoid building it again.
    """
    source = source_of(card)
    if not card.architecture:
        return LayoutCheck(card.id, source, "-", None, detail="the card names no architecture")
    expect = _EXPECTED.get(source)
    # Cards with the same key have the same expected and built layouts (and the same verdict).
    identity = {
        "pytorchcv": lambda: str(card.extra.get("matched_card") or card.name),
        "adversary_loss_landscape": lambda: _adversary_loss_landscape_folder(card),
        "robust_imagenet": lambda: _robust_imagenet_arch(card),
    }.get(source, lambda: None)()
    key = (source, identity, card.architecture, json.dumps(card.arch_kwargs, sort_keys=True), card.num_classes,
           card.weights.key_prefix, card.weights.inner_key, card.weights.strict)
    if cache is not None and key in cache:
        hit = cache[key]
        return LayoutCheck(card.id, hit.source, hit.reference, hit.ok, list(hit.missing), list(hit.unexpected),
                           dict(hit.mismatched), hit.detail)
    if expect is None:
        result = LayoutCheck(card.id, source, "-", None, detail=f"source {source!r} documents no checkpoint layout")
    else:
        result = _check(card, source, expect(card, module), module)
    if cache is not None:
        cache[key] = result
    return result


def _check(card: ModelCard, source: str, expected: Expected | None, built: torch.nn.Module | None) -> LayoutCheck:
    if expected is None:
        return LayoutCheck(card.id, source, "-", None, detail="no recorded layout matches this card's architecture")
    module = built if built is not None and expected.num_classes in (None, card.num_classes) else None
    if module is None:
        try:
            module = build_shapes_only(card.architecture or "", expected.num_classes, dict(card.arch_kwargs))
        except Exception as exc:  # noqa: BLE001 - reported per card, the check goes on
            return LayoutCheck(card.id, source, expected.reference, False, detail=f"does not build: {exc}")
    missing, unexpected, mismatched = compare(expected.layout, layout_of(module), allow_missing=expected.allow_missing)
    detail = _prefix_problem(card, expected) if expected.checkpoint_prefix else None
    ok = not (missing or unexpected or mismatched or detail)
    return LayoutCheck(card.id, source, expected.reference, ok, missing, unexpected, mismatched, detail)


def check_layouts(cards: Iterable[ModelCard]) -> list[LayoutCheck]:
    cache: dict[tuple, LayoutCheck] = {}
    return [check_card_layout(card, cache=cache) for card in cards]
