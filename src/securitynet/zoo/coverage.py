"""How much of the published SecurityNet catalog can be evaluated here: per published model, whether it has a
card linked to a source, an architecture that builds and outputs the card's number of classes on an input of
the card's input spec, a weight URL with a hash, weights verified locally (mirror or cache; downloaded only when
asked), and a checkpoint layout that matches the source's (``zoo.layout``).

Each distinct architecture configuration (architecture, kwargs, classes, input spec) is built and run once, on a
single input made the way real queries are (uint8 images in the dataset's layout through the card's
preprocessing). Small inputs run for real on the CPU; large ones (ImageNet and CUB sizes) run on the meta device,
which checks every shape in the forward pass without computing it, and fall back to the CPU where an architecture
cannot run there. The device used is reported per row.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np
import torch

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.zoo.heads import output_width
from securitynet.zoo.layout import LayoutCheck, check_card_layout, source_of
from securitynet.zoo.loader import build_module
from securitynet.zoo.target import images_to_tensor

# auto: every architecture runs on the meta device (shapes only), and small ones run for real on the CPU too;
# meta: the meta device only; cpu: everything for real. The meta device falls back to the CPU where it fails.
Device = Literal["auto", "cpu", "meta"]
# Under "auto", a real CPU forward pass also runs for models up to this size on inputs up to this many elements.
REAL_FORWARD_MAX_PARAMETERS = 2_000_000
REAL_FORWARD_MAX_ELEMENTS = 3 * 64 * 64

# Where each source's weights live, in words (the per-card URLs and hashes are on the cards).
WEIGHT_ORIGINS: dict[str, str] = {
    "pytorchcv": "imgclsmob GitHub release assets (github.com/osmr/imgclsmob/releases): one zip per model holding "
    "its .pth, checked by the sha1 that pytorchcv ships for the .pth",
    "medmnist": "Zenodo record 7782114: one weights_<dataset>.zip per dataset holding every model's .pth, checked by "
    "Zenodo's md5 of the zip (and the member's sha256 where recorded)",
    "adversary_loss_landscape": "Git LFS files of github.com/IVRL/AdversaryLossLandscape (media.githubusercontent.com "
    "at the recorded commit): plain state dicts; no hash recorded, so fetched files are unverified",
    "robust_imagenet": "the authors' Hugging Face re-upload (huggingface.co/madrylab/robust-imagenet-models), then the "
    "README's Azure URL (SAS token expired 2021-10-05): robustness checkpoints, checked by the Hugging Face "
    "sha256 where recorded",
    "robustbench": "where the installed robustbench package's model zoo points: Google Drive files (by id, as "
    "robustbench downloads them), GitHub release assets of timm models RobustBench registers, torchvision's "
    "ResNet-50; RobustBench records no checksums, so fetched files are unverified; ensembles have no single file",
}


@dataclass
class ArchitectureCheck:
    builds: bool
    outputs: int | None = None
    device: str | None = None
    detail: str | None = None


@dataclass
class CoverageRow:
    card_id: str
    dataset: str
    source: str  # the source the card is linked to, or "unmatched"
    matched_card: str | None
    architecture: str | None
    num_classes: int | None
    builds: bool
    classes_ok: bool
    forward_device: str | None
    build_detail: str | None
    weight_url: bool
    weight_hash: str | None
    weights: str  # verified | unverified | not-local | failed | not-checked
    weights_detail: str | None
    layout_ok: bool | None
    layout_detail: str | None


@dataclass
class CoverageGroup:
    source: str
    dataset: str
    models: int = 0
    card: int = 0
    builds: int = 0
    url_with_hash: int = 0
    verified: int = 0
    layout_ok: int = 0


@dataclass
class CoverageReport:
    rows: list[CoverageRow]
    weights_checked: bool
    fetched: bool
    groups: list[CoverageGroup] = field(default_factory=list)
    weight_origins: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> CoverageGroup:
        total = CoverageGroup("all", "all")
        for group in self.groups:
            for name in ("models", "card", "builds", "url_with_hash", "verified", "layout_ok"):
                setattr(total, name, getattr(total, name) + getattr(group, name))
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights_checked": self.weights_checked,
            "fetched": self.fetched,
            "total": asdict(self.total),
            "groups": [asdict(group) for group in self.groups],
            "weight_origins": self.weight_origins,
            "models": [asdict(row) for row in self.rows],
        }


# --- building and running each architecture once ---------------------------------------------------------


def sample_images(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """One uint8 image in the dataset's natural layout; larger than the model input when the spec resizes and
    crops, so the evaluation transform is exercised too."""
    if spec.is_volume:
        return rng.integers(0, 256, size=(1, *spec.size), dtype=np.uint8)
    height, width = spec.size
    if spec.resize_shorter is not None:
        height, width = height + height // 4, width + width // 3  # a "raw" photo of another size and aspect
    shape = (1, height, width) if spec.channels == 1 else (1, height, width, spec.channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _build(card: ModelCard, meta: bool) -> torch.nn.Module:
    if meta:
        with torch.device("meta"):
            return build_module(card).eval()
    return build_module(card).eval()


def _run(module: torch.nn.Module, x: torch.Tensor) -> object:
    with torch.no_grad():
        return module(x.to(next(iter(module.parameters()), x).device))


def _small(module: torch.nn.Module, spec: InputSpec) -> bool:
    params = sum(p.numel() for p in module.parameters())
    return params <= REAL_FORWARD_MAX_PARAMETERS and math.prod(spec.size) * spec.channels <= REAL_FORWARD_MAX_ELEMENTS


def _judge(out: object, used: str) -> ArchitectureCheck:
    if not isinstance(out, torch.Tensor):
        return ArchitectureCheck(True, device=used, detail=f"returns {type(out).__name__}, not one logits tensor")
    if out.ndim != 2 or out.shape[0] != 1:
        return ArchitectureCheck(True, device=used, detail=f"returns shape {tuple(out.shape)}, not (1, classes)")
    if out.device.type != "meta" and not bool(torch.isfinite(out).all()):
        return ArchitectureCheck(True, outputs=int(out.shape[1]), device=used, detail="non-finite outputs")
    return ArchitectureCheck(True, outputs=int(out.shape[1]), device=used)


def run_architecture(card: ModelCard, device: Device = "auto", seed: int = 0
                     ) -> tuple[ArchitectureCheck, torch.nn.Module | None]:
    """Build the card's architecture (random weights), run one input of its input spec through it, and return
    the verdict with the built module (for the layout check; None when it did not build)."""
    if not card.architecture:
        return ArchitectureCheck(False, detail="the card names no architecture"), None
    if card.input is None:
        return ArchitectureCheck(False, detail="the card has no input spec"), None
    try:
        x = images_to_tensor(sample_images(card.input, np.random.default_rng(seed)), card.input)
    except Exception as exc:  # noqa: BLE001 - reported per card
        return ArchitectureCheck(False, detail=f"preprocessing fails: {exc}"), None
    if tuple(x.shape[2:]) != tuple(card.input.size):
        shape = tuple(x.shape)
        return ArchitectureCheck(False, detail=f"preprocessing gives {shape}, not size {card.input.size}"), None
    module: torch.nn.Module | None = None
    if device != "cpu":
        try:
            module = _build(card, meta=True)
            verdict = _judge(_run(module, x), "meta")
            if device == "meta" or verdict.detail is not None or not _small(module, card.input):
                return verdict, module
        except Exception:  # noqa: BLE001 - meta cannot build or run every operator; the CPU is the ground truth
            module = None
    used = "cpu" if device == "cpu" else ("meta+cpu" if module is not None else "cpu (meta failed)")
    try:
        module = _build(card, meta=False)
        return _judge(_run(module, x), used), module
    except Exception as exc:  # noqa: BLE001 - reported per card, the check goes on
        return ArchitectureCheck(False, device=used, detail=f"{type(exc).__name__}: {str(exc)[:300]}"), module


def check_architecture(card: ModelCard, device: Device = "auto", seed: int = 0) -> ArchitectureCheck:
    """Build the card's architecture and run one input of its input spec through it (see `run_architecture`)."""
    return run_architecture(card, device, seed)[0]


def architecture_key(card: ModelCard) -> tuple:
    spec = card.input.model_dump_json() if card.input is not None else None
    return (card.architecture, json.dumps(card.arch_kwargs, sort_keys=True, default=str), card.num_classes, spec)


# --- weights ---------------------------------------------------------------------------------------------


def weights_state(card: ModelCard, *, fetch: bool, mirrors: Sequence[Path]) -> tuple[str, str | None]:
    """verified / unverified / not-local / failed, trying the linked source card's id first (where
    `securitynet fetch <source id>` keeps the file), then the card's own."""
    from securitynet.catalog.builtin import builtin_card
    from securitynet.zoo.weights import try_fetch

    candidates = [card]
    matched = card.extra.get("matched_card")
    if matched:
        other = builtin_card(str(matched))
        if other is not None:
            candidates.insert(0, other)
    for candidate in candidates:
        outcome = try_fetch(candidate, offline=not fetch, progress=False, mirrors=mirrors)
        decisive = any(a.kind not in ("missing", "offline") for a in outcome.attempts)
        if outcome.ok or decisive or fetch:  # found, or a real failure, or one download attempt made
            break
    if outcome.ok:
        if outcome.verified_with:
            return "verified", f"{outcome.origin}: {', '.join(outcome.verified_with)}"
        return "unverified", f"{outcome.origin}: the card gives no hash"
    kinds = {a.kind for a in outcome.attempts}
    if kinds <= {"missing", "offline"}:
        return "not-local", "not in a mirror or the cache" + ("" if fetch else " (no download without --fetch)")
    return "failed", outcome.reason


# --- the report ------------------------------------------------------------------------------------------


def published_coverage(
    cards: Iterable[ModelCard],
    *,
    device: Device = "auto",
    check_weights: bool = True,
    fetch: bool = False,
    mirrors: Sequence[str | Path] = (),
    layout: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> CoverageReport:
    """Coverage of published cards (source "published", linked by ``catalog.sources.linking``), or of a built-in
    source's own cards (each its own source card)."""
    cards = list(cards)
    mirror_paths = [Path(m) for m in mirrors]
    configs: dict[tuple, list[ModelCard]] = defaultdict(list)
    for card in cards:
        configs[architecture_key(card)].append(card)
    checks: dict[tuple, ArchitectureCheck] = {}
    layouts: dict[str, LayoutCheck] = {}
    layout_cache: dict[tuple, LayoutCheck] = {}
    for index, (key, group) in enumerate(configs.items(), start=1):
        if progress:
            progress(f"building {group[0].architecture}", index, len(configs))
        checks[key], module = run_architecture(group[0], device)
        if layout:  # while the module exists: the layout check reuses it instead of building it again
            for card in group:
                if card.architecture:
                    layouts[card.id] = check_card_layout(card, cache=layout_cache, module=module)
        del module
    rows = []
    for index, card in enumerate(cards, start=1):
        if progress:
            progress(f"checking {card.id}", index, len(cards))
        matched = _source_card_id(card)
        source = source_of(card) if matched else "unmatched"
        check = checks[architecture_key(card)]
        width = output_width(card.output_kind, card.num_classes)  # one unit for a binary head
        classes_ok = check.builds and check.outputs is not None and check.outputs == width
        detail = check.detail
        if check.builds and check.outputs is not None and not classes_ok:
            detail = f"outputs {check.outputs} values, the card's {card.output_kind} head needs {width}"
        if check_weights:
            weights, weights_detail = weights_state(card, fetch=fetch, mirrors=mirror_paths)
        else:
            weights, weights_detail = "not-checked", None
        result = layouts.get(card.id)
        layout_ok, layout_detail = (result.ok, result.summary()) if result else (None, None)
        rows.append(CoverageRow(
            card_id=card.id,
            dataset=card.dataset,
            source=source,
            matched_card=matched,
            architecture=card.architecture,
            num_classes=card.num_classes,
            builds=check.builds,
            classes_ok=classes_ok,
            forward_device=check.device,
            build_detail=detail,
            weight_url=bool(card.weights.urls) and bool(matched),
            weight_hash=card.weight_hash,
            weights=weights,
            weights_detail=weights_detail,
            layout_ok=layout_ok,
            layout_detail=layout_detail,
        ))
    report = CoverageReport(rows=rows, weights_checked=check_weights, fetched=fetch)
    report.groups = summarise(rows)
    report.weight_origins = weight_origins(cards)
    return report


def _source_card_id(card: ModelCard) -> str | None:
    """The source card a card is checked as: a published card's link, a built-in source's card itself."""
    matched = card.extra.get("matched_card")
    return str(matched) if matched else (card.id if card.source != "published" else None)


def summarise(rows: Iterable[CoverageRow]) -> list[CoverageGroup]:
    groups: dict[tuple[str, str], CoverageGroup] = {}
    for row in rows:
        group = groups.setdefault((row.source, row.dataset), CoverageGroup(row.source, row.dataset))
        group.models += 1
        group.card += row.matched_card is not None
        group.builds += row.classes_ok
        group.url_with_hash += row.weight_url and row.weight_hash is not None
        group.verified += row.weights == "verified"
        group.layout_ok += row.layout_ok is True
    return [groups[key] for key in sorted(groups)]


def weight_origins(cards: Iterable[ModelCard]) -> dict[str, str]:
    """Per linked source: where its weights come from, with the hosts and hash kinds its cards actually use."""
    hosts: dict[str, Counter[str]] = defaultdict(Counter)
    hashes: dict[str, Counter[str]] = defaultdict(Counter)
    for card in cards:
        if not _source_card_id(card):
            continue
        source = source_of(card)
        for url in card.weights.urls[:1]:
            hosts[source][urlparse(url).netloc] += 1
        kind = card.weight_hash.split(":", 1)[0] if card.weight_hash else "no hash"
        hashes[source][kind] += 1
    origins = {}
    for source in sorted(hosts):
        where = ", ".join(f"{host} ({n})" for host, n in hosts[source].most_common())
        checks = ", ".join(f"{kind} ({n})" for kind, n in hashes[source].most_common())
        origins[source] = f"{WEIGHT_ORIGINS.get(source, 'see the cards')}. First URL host: {where}; hashes: {checks}."
    return origins
