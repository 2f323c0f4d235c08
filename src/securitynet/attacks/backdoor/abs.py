"""ABS, Artificial Brain Stimulation (Liu et al., ACM CCS 2019): find neurons that alone force one label.

Chosen for the zoo because it is a model-level, white-box detector that needs neither the poisoned training
data (unlike activation clustering, which cannot be run on public models whose training data is unknown) nor
triggered inputs (unlike NEO), and because its premise, a few inner neurons that encode the trigger, is what
patch and blend backdoors of small CNNs and MLPs produce.

1. Stimulation analysis. On a few clean images per class, every neuron of an inner layer (a channel of a
   convolution, whose whole feature map is set, or a unit of a linear layer) is set to ``n_values`` values from
   0 to ``stimulation_multiplier`` times the layer's largest observed activation, everything else unchanged.
   A neuron is a candidate when, at the strongest stimulation, every image (of another class) is sent to the
   same label; its elevation is the smallest margin (top minus second logit) over the images. The
   ``top_neurons`` candidates with the largest elevation are kept.
2. Trigger reverse engineering. For each candidate, a mask and pattern (as in Neural Cleanse) are optimised
   to maximise that neuron's activation, lower the other neurons of the layer and (``label_weight``, as the
   authors' TrojAI code adds a logits term) raise the candidate's label, with the mask's L1 norm
   pushed below ``mask_bound`` times the image area; the mask is then cut to its ``mask_bound`` largest
   pixels, so the bound holds exactly. All candidates are optimised together in one batch.
3. REASR (reverse-engineered attack success rate): the share of held-out clean images of other classes that
   the candidate's trigger sends to its label. The model's ``score`` is the largest REASR, the suspected
   target its label, and the model is flagged when it reaches ``reasr_threshold``.

The layer is the output of the last convolution when the model has one, else of the first linear layer
(``layer`` names another module). Inputs live in unit pixel space (`common.PixelModel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from pydantic import Field

from securitynet.attacks.backdoor.common import (
    PixelModel,
    defender_images,
    frozen_weights,
    ground_truth,
    to_pixels,
)
from securitynet.attacks.backdoor.detector import BackdoorDetector
from securitynet.attacks.base import AttackContext, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack
from securitynet.errors import SecurityNetError


class AbsParams(AttackParams):
    images_per_class: int = Field(2, ge=1, description="clean images per class for stimulation and optimisation")
    n_eval_images: int = Field(300, ge=10, description="held-out clean images the REASR is measured on")
    layer: str | None = Field(None, description="module whose output neurons are stimulated (default: auto)")
    n_values: int = Field(8, ge=2, description="stimulation values per neuron")
    stimulation_multiplier: float = Field(4.0, gt=0, description="largest stimulation / largest activation seen")
    top_neurons: int = Field(10, ge=1, description="candidate neurons whose triggers are reverse-engineered")
    steps: int = Field(150, ge=1, description="optimisation steps of trigger reverse engineering")
    lr: float = Field(0.1, gt=0, description="Adam learning rate of mask and pattern")
    mask_bound: float = Field(0.04, gt=0, le=1, description="largest trigger area, as a share of the image")
    other_neurons_weight: float = Field(0.5, ge=0, description="weight of suppressing the layer's other neurons")
    label_weight: float = Field(1.0, ge=0, description="weight of the cross-entropy to the candidate's label")
    reasr_threshold: float = Field(0.9, gt=0, le=1, description="REASR at which a model is flagged")


class AbsError(SecurityNetError):
    """ABS cannot find the layer to stimulate."""


@dataclass
class Candidate:
    neuron: int
    label: int
    elevation: float


def pick_layer(module: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The named module, or the last Conv2d, or else the first Linear layer."""
    named = dict(module.named_modules())
    if name is not None:
        if name not in named:
            raise AbsError(f"the model has no module {name!r}; it has {', '.join(n for n in named if n)}")
        return name, named[name]
    convs = [(n, m) for n, m in named.items() if isinstance(m, nn.Conv2d)]
    if convs:
        return convs[-1]
    linears = [(n, m) for n, m in named.items() if isinstance(m, nn.Linear)]
    if len(linears) >= 2:
        return linears[0]
    raise AbsError("ABS needs an inner layer: the model has no convolution and fewer than two linear layers")


class _Stimulate:
    """Forward hook that sets one neuron per row of the batch to a given value (whole map for convolutions)."""

    def __init__(self) -> None:
        self.neurons: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def __call__(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if self.neurons is None:
            return None
        out = output.clone()
        rows = torch.arange(len(out), device=out.device)
        value = self.values.to(out.dtype)
        out[rows, self.neurons] = value.view(-1, *([1] * (out.ndim - 2))) if out.ndim > 2 else value
        return out


class _Capture:
    def __init__(self) -> None:
        self.output: torch.Tensor | None = None

    def __call__(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        self.output = output


def stimulation_analysis(
    model: PixelModel, layer: nn.Module, images: torch.Tensor, labels: np.ndarray, params: AbsParams,
    chunk: int = 1024,
) -> list[Candidate]:
    """Candidate neurons ranked by elevation (largest first), at most ``top_neurons``."""
    capture = _Capture()
    handle = layer.register_forward_hook(capture)
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    activations = capture.output
    n_neurons = activations.shape[1]
    top_value = float(activations.max().clamp_min(1e-6)) * params.stimulation_multiplier
    values = torch.linspace(0.0, top_value, params.n_values, device=images.device)

    # One row per (neuron, image, value), in chunks of whole neurons.
    per_neuron = len(images) * params.n_values
    neurons_per_chunk = max(1, chunk // per_neuron)
    stimulate = _Stimulate()
    handle = layer.register_forward_hook(stimulate)
    elevations = np.full(n_neurons, -np.inf)
    elevated_label = np.full(n_neurons, -1)
    try:
        with torch.no_grad():
            for first in range(0, n_neurons, neurons_per_chunk):
                block = torch.arange(first, min(n_neurons, first + neurons_per_chunk), device=images.device)
                stimulate.neurons = block.repeat_interleave(per_neuron)
                stimulate.values = values.repeat(len(block) * len(images))
                batch = images.repeat_interleave(params.n_values, dim=0).repeat(len(block), 1, 1, 1)
                logits = model(batch).view(len(block), len(images), params.n_values, -1)
                for offset, neuron in enumerate(block.tolist()):
                    label, elevation = _elevation(logits[offset], labels)
                    elevated_label[neuron], elevations[neuron] = label, elevation
    finally:
        stimulate.neurons = None
        handle.remove()
    order = [int(n) for n in np.argsort(-elevations, kind="stable") if np.isfinite(elevations[n])]
    return [Candidate(n, int(elevated_label[n]), float(elevations[n])) for n in order[: params.top_neurons]]


def _elevation(log_probs: torch.Tensor, labels: np.ndarray) -> tuple[int, float]:
    """(label, smallest margin) when the strongest stimulation sends every other-class image to one label."""
    strongest = log_probs[:, -1]  # (images, K)
    tops = strongest.argmax(dim=1).cpu().numpy()
    candidates = np.unique(tops)
    best_label, best_margin = -1, -np.inf
    for label in candidates:
        others = labels != label
        if not others.any() or not np.all(tops[others] == label):
            continue
        two = torch.topk(strongest[torch.from_numpy(others).to(strongest.device)], 2, dim=1).values
        margin = float((two[:, 0] - two[:, 1]).min())
        if margin > best_margin:
            best_label, best_margin = int(label), margin
    return best_label, best_margin


def reverse_engineer(
    model: PixelModel, layer: nn.Module, images: torch.Tensor, candidates: list[Candidate], params: AbsParams,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (K, 1, H, W), cut to the bound, and patterns (K, C, H, W) for the candidate neurons."""
    count = len(candidates)
    _, channels, height, width = images.shape
    bound = max(1, int(round(params.mask_bound * height * width)))
    init = torch.rand(count, 1, height, width, generator=generator) * 0.2  # small masks to start from
    mask_raw = torch.logit(init.clamp(1e-3, 1 - 1e-3)).to(images.device).requires_grad_()
    pattern_raw = torch.logit(torch.rand(count, channels, height, width, generator=generator).clamp(1e-3, 1 - 1e-3))
    pattern_raw = pattern_raw.to(images.device).requires_grad_()
    optimizer = torch.optim.Adam([mask_raw, pattern_raw], lr=params.lr)
    neurons = torch.tensor([c.neuron for c in candidates], device=images.device)
    labels = torch.tensor([c.label for c in candidates], device=images.device)
    capture = _Capture()
    handle = layer.register_forward_hook(capture)
    try:
        for _ in range(params.steps):
            mask, pattern = torch.sigmoid(mask_raw), torch.sigmoid(pattern_raw)
            stamped = (1 - mask)[:, None] * images[None] + (mask * pattern)[:, None]
            log_probs = model(stamped.reshape(-1, channels, height, width)).view(count, len(images), -1)
            label_loss = -log_probs.gather(2, labels.view(-1, 1, 1).expand(-1, len(images), 1)).mean(dim=(1, 2))
            acts = capture.output.reshape(count, len(images), capture.output.shape[1], -1).mean(dim=3)  # (K, N, units)
            own = acts.gather(2, neurons.view(-1, 1, 1).expand(-1, len(images), 1))[..., 0].mean(dim=1)
            others = (acts.sum(dim=2) - acts.gather(2, neurons.view(-1, 1, 1).expand(-1, len(images), 1))[..., 0])
            others = others.mean(dim=1) / max(1, acts.shape[2] - 1)
            area = mask.sum(dim=(1, 2, 3))
            loss = (-own + params.other_neurons_weight * others + params.label_weight * label_loss
                    + torch.relu(area - bound)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        handle.remove()
    with torch.no_grad():
        mask = torch.sigmoid(mask_raw)
        flat = mask.view(count, -1)
        keep = torch.zeros_like(flat).scatter_(1, flat.topk(bound, dim=1).indices, 1.0)
        mask = (flat * keep).view_as(mask)
        return mask, torch.sigmoid(pattern_raw)


@register_attack
class ArtificialBrainStimulation(BackdoorDetector):
    name = "backdoor.abs"
    version = "1"
    access = "white-box"
    description = "ABS (Liu et al. 2019): neuron stimulation, trigger reverse engineering per candidate, REASR"
    Params = AbsParams
    score_metrics = ("score", "reasr")
    image_reason = "ABS reverse-engineers 2-D image triggers"

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: AbsParams = self.params  # type: ignore[assignment]
        card = target.card
        num_classes = card.num_classes
        pool = defender_images(ctx, 10 * params.images_per_class * num_classes + params.n_eval_images, name="abs")
        chosen = _per_class(pool.labels, params.images_per_class, num_classes, ctx.rng)
        evaluation = np.setdiff1d(np.arange(len(pool)), chosen)[: params.n_eval_images]
        images = to_pixels(pool.images[chosen], card.input).to(ctx.device)
        labels = pool.labels[chosen]
        eval_images = to_pixels(pool.images[evaluation], card.input).to(ctx.device)
        eval_labels = pool.labels[evaluation]

        with frozen_weights(target.module) as module:
            model = PixelModel(module, card).to(ctx.device)
            layer_name, layer = pick_layer(module, params.layer)
            candidates = stimulation_analysis(model, layer, images, labels, params)
            truth = ground_truth(card)
            metrics: dict[str, float | None] = {"n_candidates": float(len(candidates))}
            missing: dict[str, str] = {}
            if not candidates:
                reasr = np.zeros(0)
                metrics.update({"score": 0.0, "reasr": 0.0, "flagged": 0.0, "suspected_target": None})
                missing["suspected_target"] = "no neuron elevates one label for every image"
                masks = patterns = None
            else:
                masks, patterns = reverse_engineer(model, layer, images, candidates, params, ctx.torch_generator)
                reasr = _reasr(model, masks, patterns, eval_images, eval_labels, candidates)
                best = int(np.argmax(reasr))
                metrics.update({
                    "score": float(reasr[best]),
                    "reasr": float(reasr[best]),
                    "flagged": float(reasr[best] >= params.reasr_threshold),
                    "suspected_target": float(candidates[best].label),
                })
        if truth.backdoored and truth.target_label is not None and metrics.get("suspected_target") is not None:
            metrics["target_hit"] = float(metrics["suspected_target"] == truth.target_label)
        else:
            metrics["target_hit"] = None
            missing["target_hit"] = (
                "no suspected target" if truth.backdoored and truth.target_label is not None
                else "the card records no target label (clean, unknown, or undocumented)"
            )
        artifacts: dict[str, Any] = {
            "candidates": ctx.save_artifact(
                "candidates",
                {"layer": layer_name, "neurons": [c.neuron for c in candidates],
                 "labels": [c.label for c in candidates], "elevation": [c.elevation for c in candidates],
                 "reasr": [float(v) for v in reasr]},
            )
        }
        if masks is not None:
            artifacts["masks"] = ctx.save_artifact("masks", masks[:, 0].cpu().numpy().astype(np.float32))
            artifacts["patterns"] = ctx.save_artifact("patterns", patterns.cpu().numpy().astype(np.float32))
        data = {"layer": layer_name,
                "ground_truth": {"backdoored": truth.backdoored, "target_label": truth.target_label}}
        return AttackResult(metrics=metrics, artifacts=artifacts, missing_reasons=missing, data=data)


def _per_class(labels: np.ndarray, per_class: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    chosen = []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        if len(members):
            chosen.extend(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.array(chosen, dtype=np.int64))


def _reasr(
    model: PixelModel, masks: torch.Tensor, patterns: torch.Tensor, images: torch.Tensor, labels: np.ndarray,
    candidates: list[Candidate],
) -> np.ndarray:
    rates = np.zeros(len(candidates))
    with torch.no_grad():
        for k, candidate in enumerate(candidates):
            others = torch.from_numpy(labels != candidate.label)
            if not others.any():
                continue
            stamped = (1 - masks[k]) * images[others] + masks[k] * patterns[k]
            rates[k] = float((model(stamped).argmax(dim=1) == candidate.label).float().mean())
    return rates
