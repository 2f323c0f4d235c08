"""Membership-inference metrics, one implementation used by every attack (definitions in docs/architecture.md).

Scores are "higher means member". From the ROC curve over all thresholds:
- ``auc``: area under the ROC curve (sklearn ``roc_auc_score``; ties count one half);
- ``balanced_accuracy``: the best (TPR + TNR) / 2 over all thresholds, i.e. with the threshold chosen
  on the evaluation set itself: an upper bound on what an attacker reaches with a threshold of their
  own, reported because the published numbers use it;
- ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr``: the largest TPR among ROC points with FPR <= the bound.
  With fewer than 1/bound non-members the only such point may be FPR = 0, which is what is reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

MEMBERSHIP_METRICS: tuple[str, ...] = ("auc", "balanced_accuracy", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr")
FPR_BOUNDS: dict[str, float] = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001}
# fp / n is compared with the bound in floating point; 1/100 must count as <= 0.01.
_FPR_SLACK = 1e-12


def _check(scores: Any, is_member: Any) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(is_member).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores for {labels.size} membership labels")
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("membership labels must be booleans or 0/1")
        labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("membership metrics need both members and non-members")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} membership scores are not finite")
    return scores, labels


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, bound: float) -> float:
    """The largest TPR among ROC points whose FPR is at most ``bound``."""
    allowed = fpr <= bound + _FPR_SLACK
    return float(tpr[allowed].max())  # the ROC curve always starts at (0, 0), so allowed is never empty


def membership_metrics(scores: Any, is_member: Any) -> dict[str, float]:
    """auc, balanced_accuracy (best threshold), tpr_at_1pct_fpr and tpr_at_0.1pct_fpr of member scores."""
    scores, labels = _check(scores, is_member)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    metrics = {
        "auc": float(roc_auc_score(labels, scores)),
        "balanced_accuracy": float(np.max((tpr + 1.0 - fpr) / 2.0)),
    }
    for name, bound in FPR_BOUNDS.items():
        metrics[name] = tpr_at_fpr(fpr, tpr, bound)
    return metrics


def roc_points(scores: Any, is_member: Any) -> dict[str, np.ndarray]:
    """The ROC curve (collinear points dropped, so the curve is unchanged) to keep as an artifact."""
    scores, labels = _check(scores, is_member)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thresholds}
