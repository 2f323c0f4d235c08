"""What the reference-model attacks (LiRA, RMIA) share: their reference models, a per-model signal matrix
through the posterior cache, and a decision threshold from attacking reference model 0 with the others
(leave one out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from securitynet.attacks.base import AttackContext, AttackError, AttackResult
from securitynet.attacks.membership import thresholds as th
from securitynet.attacks.membership.attack import MembershipAttack
from securitynet.attacks.membership.params import LeaveOneOutParams, offline_set, online_set, sets_for
from securitynet.attacks.membership.reference_sets import ReferenceSet
from securitynet.attacks.membership.report import membership_result
from securitynet.attacks.membership.sets import MembershipSets

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


class ReferenceAttack(MembershipAttack):
    """A membership attack scored against reference models: ``online`` (every candidate IN for half of them)
    or offline (reference models trained on the attacker population only)."""

    access = "posterior"
    online: ClassVar[bool]

    def _references(
        self, ctx: AttackContext, params: LeaveOneOutParams
    ) -> tuple[MembershipSets, list[Any], ReferenceSet]:
        """The evaluation sets, their candidates (members, then non-members) and the reference models."""
        sets = sets_for(ctx, params)
        references = (online_set if self.online else offline_set)(ctx, params, sets, params.n_reference)
        return sets, [sets.members, sets.nonmembers], references

    def _leave_one_out_threshold(
        self, ctx: AttackContext, references: ReferenceSet, data: Callable[[], list[Any]], signal: Signal,
        score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    ) -> float:
        """Attack reference model 0 with the others as its references, on ``data()`` (whose membership in model 0
        is known): ``score(model 0's signal, the others' signals, which of the others trained on each column)``."""
        require_three(references)
        calibration = data()
        signals = signal_matrix(ctx, [m.target for m in references.models], calibration, signal)
        trained = np.concatenate([references.trained_on(s) for s in calibration], axis=1)
        usable = usable_columns(trained[1:], self.online)
        scores = score(signals[0, usable], signals[1:, usable], trained[1:, usable])
        return th.best_threshold(scores, trained[0, usable])

    def _result(
        self, ctx: AttackContext, scores: np.ndarray, sets: MembershipSets, params: LeaveOneOutParams,
        threshold_of: Callable[[], float], data: dict[str, Any],
    ) -> AttackResult:
        """The suite's result, with decisions at the leave-one-out threshold when ``choose_threshold``."""
        decisions, threshold_info, reason = threshold_decisions(params.choose_threshold, scores, threshold_of)
        return membership_result(
            ctx, scores, sets, decisions=decisions, no_threshold_reason=reason, threshold=threshold_info, data=data
        )
