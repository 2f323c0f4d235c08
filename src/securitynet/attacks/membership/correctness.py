"""Prediction-correctness membership baseline (Yeom et al., CSF 2018): "member" iff the model is right.

The score is 1 when the top-1 label equals the true label, else 0, so it needs only label access.
On balanced member/non-member sets its AUC equals 0.5 + (member accuracy - non-member accuracy) / 2:
the attack measures nothing but the generalisation gap, which makes it the reference point every
stronger attack must beat. It is also the label-only "gap attack" of Choquette-Choo et al. 2021.

Its members and non-members are those of every other attack of the suite for the same seed
(`sets.evaluation_sets`: the attacker population is kept out, and a model trained on a subset of its
split has members from that subset only). ``accuracy_at_threshold`` is the accuracy of the decision
"member iff correct", a rule that needs no data at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from securitynet.attacks.base import AttackContext, AttackResult
from securitynet.attacks.membership.attack import MembershipAttack
from securitynet.attacks.membership.params import MembershipParams, sets_for
from securitynet.attacks.membership.report import membership_result
from securitynet.attacks.registry import register_attack


class CorrectnessParams(MembershipParams):
    """The suite's evaluation-set parameters (n, splits, the attacker population kept out)."""


@register_attack
class CorrectnessAttack(MembershipAttack):
    name = "mia.correctness"
    version = "2"
    access = "label"
    description = "prediction-correctness baseline: a record is a member iff the model classifies it correctly"
    Params = CorrectnessParams
    multi_label_reason = "a top-1 prediction is neither right nor wrong"

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: CorrectnessParams = self.params  # type: ignore[assignment]
        sets = sets_for(ctx, params)
        member_correct = ctx.predictions(target, sets.members) == sets.members.labels
        nonmember_correct = ctx.predictions(target, sets.nonmembers) == sets.nonmembers.labels
        scores = np.concatenate([member_correct, nonmember_correct]).astype(np.float64)
        return membership_result(
            ctx, scores, sets, decisions=scores > 0.5,
            threshold={"source": "fixed rule: member iff correctly classified", "value": 0.5},
            extra_metrics={
                "member_accuracy": float(member_correct.mean()),
                "nonmember_accuracy": float(nonmember_correct.mean()),
            },
            data={"score": "1 if top-1 label is correct"},
        )
