"""LiRA, the Likelihood Ratio Attack (Carlini et al., "Membership Inference Attacks From First Principles", 2022).

The statistic is the logit-scaled confidence of the true class, phi = log(p_y / (1 - p_y)), which is close
to Gaussian over the randomness of training. Reference models trained with and without a record give the
two distributions:

- **online**: every candidate is IN for half of N reference models (trained on half of the candidates plus
  population data) and OUT for the other half; the score is the log likelihood ratio
  log N(phi; mu_in, sigma_in^2) - log N(phi; mu_out, sigma_out^2);
- **offline**: reference models never see a candidate (trained on the attacker population only); the
  score is the one-sided test statistic (phi - mu_out) / sigma_out (large phi is evidence of membership).

Variance: ``per_example`` estimates sigma_in / sigma_out per record from its IN / OUT reference outputs;
``global`` pools the within-record residuals of all records into one sigma per side, which Carlini et al.
recommend for small N. A record with fewer than two IN (or OUT) outputs falls back to the global value.

phi is computed from posteriors as log(p_y + 1e-45) - log(sum_{i != y} p_i + 1e-45), the rest summed
directly so that it does not cancel to 0 when p_y rounds to 1 (Carlini et al.'s code does the same).

``accuracy_at_threshold``: the decision threshold is chosen on attacker-known data only, by attacking
reference model 0 as if it were the target, with the other reference models as its references (leave one
out): online on the candidates with model 0's known memberships, offline on model 0's training images
and as many other population images.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from securitynet.attacks.base import AttackContext, AttackError, AttackResult
from securitynet.attacks.membership.leave_one_out import ReferenceAttack, signal_matrix
from securitynet.attacks.membership.params import LeaveOneOutParams
from securitynet.attacks.registry import register_attack

Variance = Literal["per_example", "global"]
_TINY = 1e-45
_MIN_STD = 1e-6


def logit_confidence(probs: Any, labels: Any) -> np.ndarray:
    """phi = log(p_y / (1 - p_y)) per row, stable where p_y rounds to 1 or to 0."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).ravel()
    rows = np.arange(len(y))
    true = p[rows, y]
    others = np.ones(p.shape, dtype=bool)
    others[rows, y] = False
    rest = np.where(others, p, 0.0).sum(axis=1)
    return np.log(true + _TINY) - np.log(rest + _TINY)


def _side_stats(phi: np.ndarray, mask: np.ndarray, variance: Variance) -> tuple[np.ndarray, np.ndarray]:
    """Per-record mean and std of the reference phi (models, records) where ``mask`` is True."""
    counts = mask.sum(axis=0)
    if (counts == 0).any():
        raise AttackError(f"{int((counts == 0).sum())} records have no reference output on this side")
    mean = np.where(mask, phi, 0.0).sum(axis=0) / counts
    residual = np.where(mask, phi - mean, 0.0)
    dof = max(int(counts.sum() - counts.size), 1)
    global_std = max(float(np.sqrt((residual**2).sum() / dof)), _MIN_STD)
    if variance == "global":
        return mean, np.full(mean.shape, global_std)
    per_record = np.sqrt((residual**2).sum(axis=0) / np.maximum(counts - 1, 1))
    std = np.where(counts >= 2, np.maximum(per_record, _MIN_STD), global_std)
    return mean, std


def _log_normal_pdf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def lira_online_scores(
    target_phi: np.ndarray, reference_phi: np.ndarray, reference_in: np.ndarray, variance: Variance = "per_example"
) -> np.ndarray:
    """log N(phi; IN) - log N(phi; OUT) per record; ``reference_phi`` and ``reference_in`` are (models, records)."""
    reference_phi, reference_in = np.asarray(reference_phi, float), np.asarray(reference_in, bool)
    mean_in, std_in = _side_stats(reference_phi, reference_in, variance)
    mean_out, std_out = _side_stats(reference_phi, ~reference_in, variance)
    target_phi = np.asarray(target_phi, float)
    return _log_normal_pdf(target_phi, mean_in, std_in) - _log_normal_pdf(target_phi, mean_out, std_out)


def lira_offline_scores(
    target_phi: np.ndarray, reference_phi: np.ndarray, reference_out: np.ndarray, variance: Variance = "per_example"
) -> np.ndarray:
    """(phi - mu_out) / sigma_out per record, from the reference outputs where ``reference_out`` is True."""
    mean_out, std_out = _side_stats(np.asarray(reference_phi, float), np.asarray(reference_out, bool), variance)
    return (np.asarray(target_phi, float) - mean_out) / std_out


class LiraParams(LeaveOneOutParams):
    variance: Variance = Field("global", description="per_example or global (fixed) variance of phi")


class _Lira(ReferenceAttack):
    Params = LiraParams

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: LiraParams = self.params  # type: ignore[assignment]
        sets, candidates, references = self._references(ctx, params)
        target_phi = signal_matrix(ctx, [target], candidates, logit_confidence)[0]
        ref_phi = signal_matrix(ctx, [m.target for m in references.models], candidates, logit_confidence)
        ref_in = np.concatenate([references.trained_on(s) for s in candidates], axis=1)
        scores = self._scores(target_phi, ref_phi, ref_in, params.variance)

        # Online: the candidates (model 0 trained on half of them). Offline: model 0's training images and as
        # many other population images.
        def calibration() -> list[Any]:
            return candidates if self.online else [references.balanced_sample(sets.population, 0)]

        def threshold() -> float:
            return self._leave_one_out_threshold(
                ctx, references, calibration, logit_confidence,
                lambda phi, ref_phi, ref_in: self._scores(phi, ref_phi, ref_in, params.variance),
            )

        data = {"lira": {"online": self.online, "variance": params.variance, "n_reference": len(references)}}
        return self._result(ctx, scores, sets, params, threshold, data)

    def _scores(self, target_phi: np.ndarray, ref_phi: np.ndarray, ref_in: np.ndarray, variance: Variance) -> Any:
        if self.online:
            return lira_online_scores(target_phi, ref_phi, ref_in, variance)
        return lira_offline_scores(target_phi, ref_phi, ~ref_in, variance)


@register_attack
class LiraOnline(_Lira):
    name = "mia.lira_online"
    version = "1"
    online = True
    description = "LiRA online: Gaussian likelihood ratio of IN and OUT reference models (Carlini et al. 2022)"


@register_attack
class LiraOffline(_Lira):
    name = "mia.lira_offline"
    version = "1"
    online = False
    description = "LiRA offline: one-sided test against OUT reference models only (Carlini et al. 2022)"
