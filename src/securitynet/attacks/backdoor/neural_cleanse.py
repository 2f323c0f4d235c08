"""Neural Cleanse (Wang et al., IEEE S&P 2019): reverse-engineer a minimal trigger per class, flag outliers.

For every class k a mask m (H x W, shared by the channels) and a pattern p (C x H x W), both squashed into
[0, 1] by tanh, are optimised so that ``(1 - m) * x + m * p`` sends clean images x to k, minimising

    cross-entropy(f((1 - m) * x + m * p), k) + lambda_k * |m|_1.

lambda_k follows the paper's schedule (the authors' code, ``visualizer.py``): it starts at ``init_cost``; after
``patience`` epochs in a row in which the trigger sends at least ``success_threshold`` of the images to k it is
multiplied by ``cost_multiplier``; after ``patience`` epochs below it is divided by ``cost_multiplier ** 1.5``.
The mask kept for a class is the one of smallest L1 norm among the epochs that reached the threshold; a class
stops early once its best norm has not improved by more than 1 - ``early_stop_threshold`` for
``early_stop_patience`` epochs after lambda has moved both up and down.

All classes are optimised at once: one batch of clean images is stamped with every class's candidate trigger
and goes through the model as a single batch, and a class that has stopped leaves the batch (models with many
classes are optimised in groups of classes, at most ``max_batch_images`` stamped images per pass). Adam keeps
per-parameter moments, so this is exactly the per-class optimisation of the paper, at the cost of one large
forward/backward pass per step instead of K small ones. The network is optimised through in a frozen copy
whose batch norms are folded into the convolutions before them (`zoo.batchnorm_folding`): the same function
up to float rounding, without the two memory-bound passes per batch-norm layer and step.

Outlier detection: with the L1 norms l_k, the anomaly index of class k is |l_k - median(l)| / MAD, where
MAD = 1.4826 * median(|l - median(l)|) (the consistency constant makes it estimate the standard deviation
of normally distributed norms). A class with l_k below the median and an anomaly index above
``anomaly_threshold`` (2: about 95% confidence) is flagged; the model is flagged when any class is, and the
suspected target is the flagged class (or, unflagged, the class) with the smallest norm.

Masks are optimised in unit pixel space (see `common.PixelModel`), so the reversed masks and patterns kept
as artifacts are images in the model's input layout at its input size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from securitynet.attacks.backdoor.common import (
    PixelModel,
    defender_images,
    frozen_weights,
    ground_truth,
    to_pixels,
)
from securitynet.attacks.backdoor.metrics import HEADLINE_METRICS
from securitynet.attacks.base import Attack, AttackContext, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack
from securitynet.catalog.card import ModelCard
from securitynet.zoo.batchnorm_folding import folded_copy

MAD_CONSISTENCY = 1.4826
_EPSILON = 1e-7  # keeps tanh-squashed values strictly inside (0, 1) so atanh stays finite


class NeuralCleanseParams(AttackParams):
    n_images: int = Field(500, ge=10, description="clean images the defender optimises on")
    split: str | None = Field(None, description="split of the clean images (default: the held-out split)")
    batch_size: int = Field(32, ge=1, description="images per class per optimisation step")
    steps_per_epoch: int = Field(8, ge=1, description="optimisation steps between two lambda updates")
    max_epochs: int = Field(60, ge=1, description="most epochs per class (early stopping usually ends sooner)")
    lr: float = Field(0.1, gt=0, description="Adam learning rate (betas 0.5, 0.9 as in the paper)")
    init_cost: float = Field(1e-3, gt=0, description="initial lambda on the mask's L1 norm")
    success_threshold: float = Field(0.99, gt=0, le=1, description="attack success that counts as reached")
    patience: int = Field(5, ge=1, description="epochs before lambda moves")
    cost_multiplier: float = Field(1.5, gt=1, description="lambda up-step; the down-step is its 1.5th power")
    early_stop_patience: int = Field(10, ge=1, description="epochs without improvement before a class stops")
    early_stop_threshold: float = Field(0.99, gt=0, le=1, description="relative improvement that resets it")
    anomaly_threshold: float = Field(2.0, gt=0, description="anomaly index above which a small norm is flagged")
    max_batch_images: int = Field(1024, ge=1, description="most stamped images per forward pass (classes per group)")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="bfloat16: the network's passes in mixed precision (autocast; masks, patterns, Adam and the "
        "loss stay float32): about 2x faster on GPUs and on CPUs with AVX-512 BF16 or AMX, slower on other CPUs; "
        "the reversed norms then differ as another seed's do",
    )


@dataclass
class ReversedTriggers:
    """Per-class result of the optimisation; arrays are indexed by class."""

    masks: np.ndarray  # (K, H, W) in [0, 1]
    patterns: np.ndarray  # (K, C, H, W) in [0, 1]
    norms: np.ndarray  # (K,) L1 norm of each mask
    success: np.ndarray  # (K,) share of the epoch's images the kept trigger sent to the class
    reached: np.ndarray  # (K,) bool: the threshold was reached (else the last mask is kept)
    epochs: np.ndarray  # (K,) epochs run
    steps: int  # optimisation steps run in total (a step optimises every class still active)
    images_evaluated: int  # model evaluations (images through forward and backward)


@dataclass
class OutlierReport:
    median: float
    mad: float
    anomaly_index: np.ndarray  # (K,) |l_k - median| / MAD
    flagged_classes: list[int]  # small-norm classes above the threshold, smallest norm first
    suspected_target: int  # the smallest-norm flagged class, or the smallest-norm class
    model_anomaly_index: float  # anomaly index of the smallest norm (0 when it is not below the median)


def reverse_engineer_triggers(
    model: PixelModel,
    images: torch.Tensor,
    num_classes: int,
    params: NeuralCleanseParams,
    generator: torch.Generator,
    progress: Any | None = None,
) -> ReversedTriggers:
    """Optimise a mask and a pattern for every class on clean ``images`` ((N, C, H, W) in [0, 1]).

    Classes go through the model together, in groups of at most ``max_batch_images / batch_size`` classes.
    """
    per_group = max(1, params.max_batch_images // params.batch_size)
    parts = []
    for first in range(0, num_classes, per_group):
        group = np.arange(first, min(num_classes, first + per_group))
        parts.append(_reverse_engineer(model, images, group, params, generator, progress))
    return ReversedTriggers(
        masks=np.concatenate([p.masks for p in parts]),
        patterns=np.concatenate([p.patterns for p in parts]),
        norms=np.concatenate([p.norms for p in parts]),
        success=np.concatenate([p.success for p in parts]),
        reached=np.concatenate([p.reached for p in parts]),
        epochs=np.concatenate([p.epochs for p in parts]),
        steps=sum(p.steps for p in parts),
        images_evaluated=sum(p.images_evaluated for p in parts),
    )


class _Schedule:
    """The paper's per-class bookkeeping, one array entry per class of a group, updated once per epoch.

    Lambda schedule, the kept (smallest-norm successful) trigger and early stopping, exactly as the
    authors' ``visualizer.py`` runs them for one class, vectorised over the classes still active.
    """

    def __init__(self, num_classes: int, channels: int, height: int, width: int, params: NeuralCleanseParams):
        self.params = params
        self.cost = np.full(num_classes, params.init_cost)
        self.up, self.down, self.stale, self.epochs = (np.zeros(num_classes, int) for _ in range(4))
        self.went_up, self.went_down = np.zeros(num_classes, bool), np.zeros(num_classes, bool)
        self.best_norm, self.stale_reference = np.full(num_classes, np.inf), np.full(num_classes, np.inf)
        self.best_success, self.last_success = np.zeros(num_classes), np.zeros(num_classes)
        self.active = np.ones(num_classes, bool)
        self.best_mask = torch.zeros(num_classes, height, width)
        self.best_pattern = torch.zeros(num_classes, channels, height, width)

    def update(self, rows: np.ndarray, success: np.ndarray, norm: np.ndarray, mask: torch.Tensor,
               pattern: torch.Tensor) -> None:
        """One epoch's outcome for the classes ``rows``: mean success and mask norm, the current trigger."""
        p = self.params
        self.epochs[rows] += 1
        self.last_success[rows] = success
        reached = success >= p.success_threshold
        improved = reached & (norm < self.best_norm[rows])
        self.best_norm[rows[improved]] = norm[improved]
        self.best_success[rows[improved]] = success[improved]
        best = self.best_norm[rows]
        keep = improved | ~np.isfinite(best)  # nothing reached yet: keep the latest as a fallback
        self.best_mask[torch.from_numpy(rows[keep])] = mask[torch.from_numpy(keep)]
        self.best_pattern[torch.from_numpy(rows[keep])] = pattern[torch.from_numpy(keep)]
        # Early stopping (the authors' rule): count epochs without a relative improvement of the best norm.
        stale = np.where(best >= p.early_stop_threshold * self.stale_reference[rows], self.stale[rows] + 1, 0)
        self.stale[rows] = np.where(np.isfinite(best), stale, self.stale[rows])
        self.stale_reference[rows] = np.minimum(best, self.stale_reference[rows])
        done = self.went_up[rows] & self.went_down[rows] & (self.stale[rows] >= p.early_stop_patience)
        self.active[rows[done]] = False
        # Lambda schedule: up after `patience` successful epochs in a row, down after as many failed ones.
        self.up[rows] = np.where(reached, self.up[rows] + 1, 0)
        self.down[rows] = np.where(reached, 0, self.down[rows] + 1)
        raise_ = rows[self.up[rows] >= p.patience]
        lower = rows[(self.up[rows] < p.patience) & (self.down[rows] >= p.patience)]
        self.up[raise_], self.cost[raise_], self.went_up[raise_] = 0, self.cost[raise_] * p.cost_multiplier, True
        self.down[lower], self.went_down[lower] = 0, True
        self.cost[lower] /= p.cost_multiplier**1.5

    def result(self, steps: int, evaluated: int) -> ReversedTriggers:
        reached_any = np.isfinite(self.best_norm)
        norms = np.where(reached_any, self.best_norm, self.best_mask.abs().sum(dim=(1, 2)).numpy())
        return ReversedTriggers(
            masks=self.best_mask.numpy().astype(np.float32),
            patterns=self.best_pattern.numpy().astype(np.float32),
            norms=norms.astype(np.float64),
            success=np.where(reached_any, self.best_success, self.last_success),
            reached=reached_any,
            epochs=self.epochs,
            steps=steps,
            images_evaluated=evaluated,
        )


def _reverse_engineer(
    model: PixelModel,
    images: torch.Tensor,
    group: np.ndarray,
    params: NeuralCleanseParams,
    generator: torch.Generator,
    progress: Any | None,
) -> ReversedTriggers:
    """The optimisation for the classes in ``group``; arrays are indexed by position in the group."""
    device = images.device
    n, channels, height, width = images.shape
    classes = torch.as_tensor(group, device=device)
    init = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    mask_raw = _atanh_unit(torch.rand(len(group), 1, height, width, generator=init)).to(device).requires_grad_()
    pattern_raw = _atanh_unit(torch.rand(len(group), channels, height, width, generator=init)).to(device)
    pattern_raw.requires_grad_()
    optimizer = torch.optim.Adam([mask_raw, pattern_raw], lr=params.lr, betas=(0.5, 0.9))
    schedule = _Schedule(len(group), channels, height, width, params)
    steps = evaluated = 0
    for _epoch in range(params.max_epochs):
        rows = np.flatnonzero(schedule.active)
        if len(rows) == 0:
            break
        row_index = torch.from_numpy(rows).to(device)
        targets = classes[row_index]
        lam = torch.tensor(schedule.cost[rows], dtype=torch.float32, device=device)
        success_sum = torch.zeros(len(rows), device=device)
        norm_sum = torch.zeros(len(rows), device=device)
        for _ in range(params.steps_per_epoch):
            batch = images[torch.randint(0, n, (params.batch_size,), generator=generator).to(device)]
            mask = _squash(mask_raw[row_index])  # (A, 1, H, W)
            pattern = _squash(pattern_raw[row_index])  # (A, C, H, W)
            stamped = (1 - mask)[:, None] * batch[None] + (mask * pattern)[:, None]  # (A, B, C, H, W)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=params.precision == "bfloat16"):
                log_probs = model(stamped.reshape(-1, channels, height, width)).view(len(rows), len(batch), -1)
            target_log_probs = log_probs.gather(2, targets.view(-1, 1, 1).expand(-1, len(batch), 1))[..., 0]
            norm = mask.abs().sum(dim=(1, 2, 3))
            loss = (-target_log_probs.mean(dim=1) + lam * norm).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                success_sum += (log_probs.argmax(dim=2) == targets[:, None]).float().mean(dim=1)
                norm_sum += norm
            steps += 1
            evaluated += len(rows) * len(batch)
        with torch.no_grad():
            current_mask = _squash(mask_raw[row_index])[:, 0].cpu()
            current_pattern = _squash(pattern_raw[row_index]).cpu()
        schedule.update(rows, (success_sum / params.steps_per_epoch).cpu().numpy(),
                        (norm_sum / params.steps_per_epoch).cpu().numpy(), current_mask, current_pattern)
        if progress is not None:
            progress(int(schedule.active.sum()), len(group))
    return schedule.result(steps, evaluated)


def detect_outliers(norms: np.ndarray, threshold: float = 2.0) -> OutlierReport:
    """Median-absolute-deviation outliers among small L1 norms (the paper's anomaly index)."""
    norms = np.asarray(norms, dtype=np.float64)
    median = float(np.median(norms))
    mad = MAD_CONSISTENCY * float(np.median(np.abs(norms - median)))
    if mad > 0:
        index = np.abs(norms - median) / mad
    else:  # all norms (or more than half of them) equal: no spread to measure against
        index = np.where(norms == median, 0.0, np.inf)
    small = norms <= median
    flagged = [int(k) for k in np.argsort(norms, kind="stable") if small[k] and index[k] > threshold]
    suspected = flagged[0] if flagged else int(np.argmin(norms))
    model_index = float(index[int(np.argmin(norms))]) if norms.min() < median else 0.0
    return OutlierReport(median, mad, index, flagged, suspected, model_index)


@register_attack
class NeuralCleanse(Attack):
    headline_metrics = HEADLINE_METRICS
    family = "backdoor"
    score_metrics = ("score", "anomaly_index")
    score_direction = "higher-is-backdoored"
    name = "backdoor.neural_cleanse"
    # 2: batch norms folded into the convolutions (`folded_pixel_model`): same optimisation, norms of networks
    # with batch norms differ from version 1's by float rounding only.
    version = "2"
    access = "white-box"
    description = (
        "Neural Cleanse (Wang et al. 2019): minimal reversed trigger per class, MAD anomaly index of the mask norms"
    )
    Params = NeuralCleanseParams

    def applicable(self, card: ModelCard) -> str | None:
        if card.input is None or len(card.input.size) != 2:
            return "Neural Cleanse reverse-engineers 2-D image triggers"
        if not card.num_classes or card.num_classes < 3:
            return "the anomaly index needs at least 3 classes"
        return None

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: NeuralCleanseParams = self.params  # type: ignore[assignment]
        card = target.card
        clean = defender_images(ctx, params.n_images, params.split)
        images = to_pixels(clean.images, card.input).to(ctx.device)
        started = time.perf_counter()
        with frozen_weights(target.module) as module:
            model = folded_pixel_model(module, card, images)
            reversed_ = reverse_engineer_triggers(model, images, card.num_classes, params, ctx.torch_generator)
        seconds = time.perf_counter() - started
        report = detect_outliers(reversed_.norms, params.anomaly_threshold)

        truth = ground_truth(card)
        flagged = bool(report.flagged_classes)
        metrics: dict[str, float | None] = {
            "anomaly_index": report.model_anomaly_index,
            "score": report.model_anomaly_index,
            "flagged": float(flagged),
            "suspected_target": float(report.suspected_target),
            "n_flagged_classes": float(len(report.flagged_classes)),
            "min_norm": float(reversed_.norms.min()),
            "median_norm": report.median,
            "target_hit": None,
            "true_target_anomaly_index": None,
            "classes_unreached": float((~reversed_.reached).sum()),
            "optimisation_seconds": seconds,
        }
        missing: dict[str, str] = {}
        if truth.backdoored and truth.target_label is not None:
            metrics["target_hit"] = float(report.suspected_target == truth.target_label)
            metrics["true_target_anomaly_index"] = float(report.anomaly_index[truth.target_label])
        else:
            reason = {
                None: "the card does not say whether the model is backdoored",
                False: "the model is clean: it has no target label",
                True: "the card does not record the backdoor's target label",
            }[truth.backdoored]
            missing["target_hit"] = missing["true_target_anomaly_index"] = reason

        artifacts = {
            "masks": ctx.save_artifact("masks", reversed_.masks),
            "patterns": ctx.save_artifact("patterns", reversed_.patterns),
            "per_class": ctx.save_artifact(
                "per_class",
                {
                    "l1_norm": reversed_.norms.tolist(),
                    "anomaly_index": [None if not np.isfinite(v) else float(v) for v in report.anomaly_index],
                    "success": reversed_.success.tolist(),
                    "reached": reversed_.reached.tolist(),
                    "epochs": reversed_.epochs.tolist(),
                    "flagged_classes": report.flagged_classes,
                    "median": report.median,
                    "mad": report.mad,
                },
            ),
        }
        data = {
            "steps": reversed_.steps,
            "images_evaluated": reversed_.images_evaluated,
            "ground_truth": {"backdoored": truth.backdoored, "target_label": truth.target_label},
        }
        return AttackResult(metrics=metrics, artifacts=artifacts, missing_reasons=missing, data=data)


def folded_pixel_model(module: torch.nn.Module, card: ModelCard, images: torch.Tensor) -> PixelModel:
    """``PixelModel`` of a frozen module whose batch norms are folded into its convolutions where they can be.

    Every optimisation step is a forward and a backward pass through the network; folding saves both passes
    through each batch-norm layer (see `zoo.batchnorm_folding`). The outputs are the original's up to float
    rounding. ``images`` (pixels, on the module's device) give the probe batch the folded copy is checked on.
    """
    model = PixelModel(module, card).to(images.device)
    probe = (images[:8] * model.gain - model.mean) / model.std
    model.module = folded_copy(module, probe)
    return model


def _squash(raw: torch.Tensor) -> torch.Tensor:
    return torch.tanh(raw) / (2 - _EPSILON) + 0.5


def _atanh_unit(values: torch.Tensor) -> torch.Tensor:
    """The raw parameter whose squashed value is ``values`` (in [0, 1])."""
    return torch.atanh((values - 0.5) * (2 - _EPSILON))
