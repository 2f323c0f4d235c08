"""Membership-inference metrics, one implementation used by every attack (definitions in docs/architecture.md).

Scores are "higher means member". From the ROC curve over all thresholds:
- ``auc``: area under the ROC curve (sklearn ``roc_auc_score``; ties count one half);
- ``balanced_accuracy``: the best (TPR + TNR) / 2 over all thresholds, i.e. with the threshold chosen
  on the evaluation set itself: an upper bound on what an attacker reaches with a threshold of their
  own, reported because the published numbers use it;
- ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr``: the largest TPR among ROC points with FPR <= the bound.
  With fewer than 1/bound non-members the only such point may be FPR = 0, which is what is reported.
- ``accuracy_at_threshold``: (TPR + TNR) / 2 at a threshold fixed *before* looking at the evaluation set
  (chosen on shadow-model outputs or on a labelled fraction the attacker knows, see ``thresholds.py``);
  on balanced sets it is the plain accuracy of the attacker's member/non-member decisions.

The ROC curve kept as an artifact is downsampled (``downsample_roc``) so that its file stays small for
large evaluation sets while every point that decides a low-FPR number is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

# What a reader looks at first in a membership result (the Attack classes declare it).
HEADLINE_METRICS = ("auc", "tpr_at_1pct_fpr")

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


def roc_points(scores: Any, is_member: Any, max_points: int | None = 2000) -> dict[str, np.ndarray]:
    """The ROC curve to keep as an artifact: collinear points dropped, then `downsample_roc` to ``max_points``."""
    scores, labels = _check(scores, is_member)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    if max_points is not None and len(fpr) > max_points:
        keep = downsample_roc(fpr, tpr, max_points)
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return {"fpr": fpr, "tpr": tpr, "thresholds": thresholds}


def downsample_roc(fpr: np.ndarray, tpr: np.ndarray, max_points: int) -> np.ndarray:
    """Positions of at most about ``max_points`` ROC vertices that keep the curve's shape where it matters.

    Half the budget goes to FPR values spaced evenly on a log scale from the smallest non-zero FPR to 1
    (the low-FPR region that log-scale ROC plots and TPR@FPR numbers read), half to a linear grid (the
    AUC region). For every grid value the vertex with the largest FPR not above it is kept, i.e. the
    highest TPR reachable at that FPR, so ``tpr_at_fpr`` read from the kept points at a grid value is exact;
    the first and last vertices are always kept. Only real vertices are kept, never interpolated ones.
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    fpr = np.asarray(fpr, dtype=np.float64)
    n = len(fpr)
    if n <= max_points:
        return np.arange(n)
    positive = fpr[fpr > 0]
    smallest = positive.min() if positive.size else 1.0
    half = max_points // 2 - 1
    grid = np.concatenate([np.geomspace(smallest, 1.0, half), np.linspace(0.0, 1.0, half), list(FPR_BOUNDS.values())])
    # roc_curve's FPR is non-decreasing and TPR too: the last vertex with fpr <= g has the highest TPR there.
    last_at_or_below = np.searchsorted(fpr, grid + _FPR_SLACK, side="right") - 1
    keep = np.unique(np.concatenate([[0, n - 1], last_at_or_below[last_at_or_below >= 0]]))
    return keep


def accuracy_at_threshold(is_member: Any, predicted_member: Any) -> float:
    """(TPR + TNR) / 2 of member decisions made with a threshold chosen beforehand (``thresholds.py``)."""
    labels = np.asarray(is_member).ravel().astype(bool)
    decisions = np.asarray(predicted_member).ravel()
    if decisions.shape != labels.shape:
        raise ValueError(f"{decisions.size} member decisions for {labels.size} membership labels")
    if labels.all() or not labels.any():
        raise ValueError("membership metrics need both members and non-members")
    decisions = decisions.astype(bool)
    tpr = float(decisions[labels].mean())
    tnr = float((~decisions[~labels]).mean())
    return (tpr + tnr) / 2.0
