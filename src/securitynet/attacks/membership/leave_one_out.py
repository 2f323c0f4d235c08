"""What the reference-model attacks (LiRA, RMIA) share: a per-model signal matrix through the posterior
cache, and a decision threshold from attacking reference model 0 with the others (leave one out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from securitynet.attacks.base import AttackContext, AttackError
from securitynet.attacks.membership import thresholds as th

# (posteriors, labels) -> one value per row: phi for LiRA, the true-class probability for RMIA.
Signal = Callable[[Any, Any], np.ndarray]


def signal_matrix(ctx: AttackContext, models: list[Any], data: list[Any], signal: Signal) -> np.ndarray:
    """``signal`` of each model (rows) on the concatenated ``data`` splits (columns), through the cache."""
    return np.stack(
        [np.concatenate([signal(ctx.posteriors(model, s), s.labels) for s in data]) for model in models]
    )


def usable_columns(others_trained: np.ndarray, online: bool) -> np.ndarray:
    """Columns the other reference models can score: some model left each one OUT (and, online, some IN)."""
    usable = (~others_trained).any(axis=0)
    if online:
        usable &= others_trained.any(axis=0)
    return usable


def threshold_decisions(
    choose: bool, scores: np.ndarray, threshold_of: Callable[[], Any]
) -> tuple[np.ndarray | None, dict[str, Any] | None, str]:
    """(decisions, threshold record, reason when there is none) for ``scores``; ``threshold_of`` attacks
    reference model 0 with the others and may raise when the reference models cannot give a threshold."""
    if not choose:
        return None, None, "choose_threshold is off"
    try:
        threshold = threshold_of()
    except (AttackError, ValueError) as exc:
        return None, None, f"no threshold from the reference models: {exc}"
    info = {"source": "reference model 0 attacked with the others (leave one out)",
            "value": th.describe_thresholds(threshold)}
    return th.decide(scores, threshold), info, ""


def require_three(references: Any) -> None:
    if len(references) < 3:
        raise AttackError("leave-one-out calibration needs at least 3 reference models")
