"""What every membership attack of the suite reports, built in one place so that no attack reports less.

Metrics: ``auc``, ``balanced_accuracy``, ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr`` (threshold-free, from
`metrics.membership_metrics`) and ``accuracy_at_threshold`` (at a threshold the attacker fixed on data it
may know; None with the reason when the attack was asked not to choose one). Artifacts: the ROC curve
(downsampled, see `metrics.roc_points`) and the per-example scores with the source indices they belong
to, so a result can be re-plotted, compared example by example or recomputed. Data: which images were
evaluated (split, size, fingerprints), on top of the indices the context records itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from securitynet.attacks.base import AttackContext, AttackResult
from securitynet.attacks.membership.metrics import accuracy_at_threshold, membership_metrics, roc_points
from securitynet.attacks.membership.sets import MembershipSets


def membership_result(
    ctx: AttackContext,
    scores: np.ndarray,
    evaluated: MembershipSets,
    *,
    decisions: np.ndarray | None = None,
    no_threshold_reason: str | None = None,
    threshold: dict[str, Any] | None = None,
    extra_metrics: dict[str, float | None] | None = None,
    data: dict[str, Any] | None = None,
) -> AttackResult:
    """The suite's standard result for ``scores`` (higher = member) of members followed by non-members."""
    _, _, is_member = evaluated.combined()
    scores = np.asarray(scores, dtype=np.float64)
    metrics: dict[str, float | None] = dict(membership_metrics(scores, is_member))
    missing: dict[str, str] = {}
    if decisions is not None:
        metrics["accuracy_at_threshold"] = accuracy_at_threshold(is_member, decisions)
    else:
        metrics["accuracy_at_threshold"] = None
        missing["accuracy_at_threshold"] = no_threshold_reason or "no threshold was chosen on attacker-known data"
    for name, value in (extra_metrics or {}).items():
        metrics[name] = value
    n_members = len(evaluated.members)
    artifacts = {
        "roc": ctx.save_artifact("roc", roc_points(scores, is_member)),
        "scores": ctx.save_artifact(
            "scores",
            {
                "member_indices": np.asarray(evaluated.members.indices, dtype=np.int64),
                "nonmember_indices": np.asarray(evaluated.nonmembers.indices, dtype=np.int64),
                "member_scores": scores[:n_members],
                "nonmember_scores": scores[n_members:],
            },
        ),
    }
    out_data = {
        "evaluated": {
            "n_members": n_members,
            "n_nonmembers": len(evaluated.nonmembers),
            "member_split": evaluated.members.split,
            "nonmember_split": evaluated.nonmembers.split,
            "member_fingerprint": evaluated.members.fingerprint(),
            "nonmember_fingerprint": evaluated.nonmembers.fingerprint(),
        },
        **({"threshold": threshold} if threshold is not None else {}),
        **(data or {}),
    }
    return AttackResult(metrics=metrics, artifacts=artifacts, missing_reasons=missing, data=out_data)
