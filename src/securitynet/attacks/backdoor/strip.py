"""STRIP (Gao et al., ACSAC 2019): a triggered input stays confident when other images are superimposed on it.

Each input x is blended with ``n_overlay`` clean images drawn from the defender's held-out pool; the model's
Shannon entropy (bits) is averaged over the blends. A clean input blended with another digit gets an
uncertain, mixed prediction (high entropy); an input carrying a trigger keeps being sent to the target label
(low entropy). Blending follows the authors' code, ``cv2.addWeighted(x, 1, overlay, 1, 0)`` on uint8 images,
i.e. a saturating sum (``blend="add"``); ``blend="average"`` takes the mean of the two images instead.

Input level, where the card records the trigger: clean held-out inputs against the same number of held-out
inputs of other classes carrying the card's trigger. ``auroc`` scores inputs by negative entropy (triggered
is the positive class); the detection threshold is the ``frr`` quantile of the entropies of a separate clean
*calibration* set (the defender knows only clean data), and ``far_at_frr`` is the share of triggered inputs
above it (missed), ``frr_measured`` the share of the scored clean inputs below it.

Model level (every model, trigger known or not): ``score`` = 1 - the mean entropy of the clean inputs divided
by log2(K). STRIP was designed to screen inputs, not models; this score is a weak model-level signal,
reported so that it can be compared with the model-level detectors on the same models, not as a verdict.
STRIP names no target label and flags no model (those metrics are left unmeasured, with the reason).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.metrics import roc_auc_score

from securitynet.attacks.backdoor.common import defender_images, ground_truth
from securitynet.attacks.backdoor.detector import BackdoorDetector
from securitynet.attacks.base import AttackContext, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack
from securitynet.errors import DatasetError


class StripParams(AttackParams):
    n_inputs: int = Field(300, ge=10, description="clean inputs scored (and as many triggered ones)")
    n_calibration: int = Field(300, ge=10, description="clean inputs that set the detection threshold")
    n_overlay: int = Field(32, ge=1, description="clean images superimposed on each input")
    n_overlay_pool: int = Field(500, ge=1, description="held-out clean images the overlays are drawn from")
    blend: Literal["add", "average"] = Field("add", description="saturating sum (authors' code) or mean")
    frr: float = Field(0.01, gt=0, lt=1, description="false-rejection rate the threshold is set for")
    split: str | None = Field(None, description="held-out split of every image used (default: the dataset's)")


def superimpose(inputs: np.ndarray, overlays: np.ndarray, blend: str) -> np.ndarray:
    """Every input blended with every overlay: (N, M, ...) uint8, from (N, ...) and (M, ...)."""
    a = inputs[:, None].astype(np.int16)
    b = overlays[None].astype(np.int16)
    mixed = a + b if blend == "add" else (a + b + 1) // 2
    return np.clip(mixed, 0, 255).astype(np.uint8)


def strip_entropy(target: Any, inputs: np.ndarray, overlays: np.ndarray, blend: str, chunk: int = 64) -> np.ndarray:
    """Mean prediction entropy (bits) of each input over its blends with ``overlays`` (posterior access)."""
    entropies = np.empty(len(inputs), dtype=np.float64)
    for start in range(0, len(inputs), chunk):
        block = inputs[start : start + chunk]
        mixed = superimpose(block, overlays, blend)
        probs = target.predict_proba(mixed.reshape(-1, *inputs.shape[1:])).astype(np.float64)
        per_blend = -(probs * np.log2(np.clip(probs, 1e-12, 1.0))).sum(axis=1)
        entropies[start : start + chunk] = per_blend.reshape(len(block), len(overlays)).mean(axis=1)
    return entropies


def far_at_frr(clean_calibration: np.ndarray, clean_scored: np.ndarray, triggered: np.ndarray, frr: float
               ) -> tuple[float, float, float]:
    """(threshold, false acceptance of triggered inputs, false rejection measured on the scored clean inputs).

    An input is rejected (called triggered) when its entropy is below the threshold, the ``frr`` quantile
    of the calibration entropies.
    """
    threshold = float(np.quantile(clean_calibration, frr))
    return threshold, float(np.mean(triggered >= threshold)), float(np.mean(clean_scored < threshold))


@register_attack
class Strip(BackdoorDetector):
    name = "backdoor.strip"
    version = "1"
    access = "posterior"
    description = "STRIP (Gao et al. 2019): prediction entropy of inputs superimposed with clean images"
    Params = StripParams
    image_reason = "STRIP superimposes 2-D images"

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: StripParams = self.params  # type: ignore[assignment]
        card = target.card
        num_classes = card.num_classes or 0
        need = 2 * params.n_inputs + params.n_calibration + params.n_overlay_pool
        pool = defender_images(ctx, need, params.split, name="strip")
        if len(pool) < need:
            raise DatasetError(f"STRIP needs {need} held-out images of {card.dataset}, the split holds {len(pool)}")
        order = ctx.rng.permutation(len(pool))
        scored = order[: params.n_inputs]
        spare = order[params.n_inputs : 2 * params.n_inputs]  # triggered inputs come from these
        calibration = order[2 * params.n_inputs : 2 * params.n_inputs + params.n_calibration]
        overlay_pool = order[2 * params.n_inputs + params.n_calibration :]
        overlays = pool.images[ctx.rng.choice(overlay_pool, size=params.n_overlay, replace=False)]

        clean_entropy = strip_entropy(target, pool.images[scored], overlays, params.blend)
        calibration_entropy = strip_entropy(target, pool.images[calibration], overlays, params.blend)
        max_entropy = float(np.log2(num_classes)) if num_classes > 1 else 1.0
        metrics: dict[str, float | None] = {
            "score": 1.0 - float(clean_entropy.mean()) / max_entropy,
            "entropy_clean_mean": float(clean_entropy.mean()),
            "auroc": None,
            "far_at_frr": None,
            "frr_measured": None,
            "entropy_triggered_mean": None,
            "triggered_target_rate": None,
            "flagged": None,
            "suspected_target": None,
            "target_hit": None,
        }
        missing = {
            "flagged": "STRIP screens inputs; it gives no model-level verdict",
            "suspected_target": "STRIP names no target label",
            "target_hit": "STRIP names no target label",
        }
        artifacts: dict[str, Any] = {}
        truth = ground_truth(card)
        trigger, reason = _usable_trigger(truth)
        if trigger is not None:
            others = spare[pool.labels[spare] != truth.target_label]
            from securitynet.zoo.trojan.triggers import apply_trigger

            triggered_inputs = apply_trigger(pool.images[others], trigger)
            triggered_entropy = strip_entropy(target, triggered_inputs, overlays, params.blend)
            scores = -np.concatenate([clean_entropy, triggered_entropy])
            is_triggered = np.concatenate([np.zeros(len(clean_entropy), bool), np.ones(len(triggered_entropy), bool)])
            threshold, far, frr = far_at_frr(calibration_entropy, clean_entropy, triggered_entropy, params.frr)
            predicted = target.predict(triggered_inputs)
            metrics.update({
                "auroc": float(roc_auc_score(is_triggered, scores)),
                "far_at_frr": far,
                "frr_measured": frr,
                "entropy_triggered_mean": float(triggered_entropy.mean()),
                "triggered_target_rate": float(np.mean(predicted == truth.target_label)),
            })
            artifacts["entropies"] = ctx.save_artifact(
                "entropies",
                {"clean": clean_entropy, "triggered": triggered_entropy, "calibration": calibration_entropy},
            )
            artifacts["threshold"] = {"entropy": threshold, "frr": params.frr}
        else:
            for name in ("auroc", "far_at_frr", "frr_measured", "entropy_triggered_mean", "triggered_target_rate"):
                missing[name] = reason
            artifacts["entropies"] = ctx.save_artifact(
                "entropies", {"clean": clean_entropy, "calibration": calibration_entropy}
            )
        data = {
            "ground_truth": {"backdoored": truth.backdoored, "target_label": truth.target_label,
                             "trigger_known": trigger is not None},
            "n_overlay": params.n_overlay,
        }
        return AttackResult(metrics=metrics, artifacts=artifacts, missing_reasons=missing, data=data)


def _usable_trigger(truth: Any) -> tuple[dict[str, Any] | None, str]:
    """The card's trigger when it can be rebuilt, else None and why input-level metrics are missing."""
    from securitynet.zoo.trojan.triggers import TriggerError, trigger_from_dict

    if truth.backdoored is None:
        return None, "the card does not say whether the model is backdoored"
    if not truth.backdoored:
        return None, "the model is clean: there are no triggered inputs"
    if truth.trigger is None or truth.target_label is None:
        return None, "the card does not record the trigger and target label"
    try:
        trigger_from_dict(truth.trigger)
    except TriggerError as exc:
        return None, f"the card's trigger cannot be rebuilt: {exc}"
    return truth.trigger, ""
