"""Prediction-correctness membership baseline (Yeom et al., CSF 2018): "member" iff the model is right.

The score is 1 when the top-1 label equals the true label, else 0, so it needs only label access.
On balanced member/non-member sets its AUC equals 0.5 + (member accuracy - non-member accuracy) / 2:
the attack measures nothing but the generalisation gap, which makes it the reference point every
stronger attack must beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from securitynet.attacks.base import Attack, AttackContext, AttackParams, AttackResult
from securitynet.attacks.membership.metrics import membership_metrics, roc_points
from securitynet.attacks.registry import register_attack
from securitynet.catalog.card import ModelCard
from securitynet.errors import DatasetError


class CorrectnessParams(AttackParams):
    n: int = Field(1000, ge=1, description="members, and as many non-members")
    member_split: str | None = Field(None, description="split of the members (default: the training split)")
    nonmember_split: str | None = Field(None, description="split of the non-members (default: held-out split)")


@register_attack
class CorrectnessAttack(Attack):
    name = "mia.correctness"
    version = "1"
    access = "label"
    description = "prediction-correctness baseline: a record is a member iff the model classifies it correctly"
    Params = CorrectnessParams

    def applicable(self, card: ModelCard) -> str | None:
        from securitynet.data import get_dataset

        try:
            task = get_dataset(card.dataset).task
        except DatasetError:
            return None  # the job itself then fails with the data error, recorded with the model
        if task.startswith("multi-label"):
            return f"{card.dataset} is multi-label: a top-1 prediction is neither right nor wrong"
        return None

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: CorrectnessParams = self.params  # type: ignore[assignment]
        sample = ctx.membership(
            params.n, member_split=params.member_split, nonmember_split=params.nonmember_split
        )
        member_correct = ctx.predictions(target, sample.members) == sample.members.labels
        nonmember_correct = ctx.predictions(target, sample.nonmembers) == sample.nonmembers.labels
        scores = np.concatenate([member_correct, nonmember_correct]).astype(np.float64)
        is_member = np.concatenate([np.ones(len(member_correct), bool), np.zeros(len(nonmember_correct), bool)])
        metrics: dict[str, float | None] = dict(membership_metrics(scores, is_member))
        metrics["member_accuracy"] = float(member_correct.mean())
        metrics["nonmember_accuracy"] = float(nonmember_correct.mean())
        roc = ctx.save_artifact("roc", roc_points(scores, is_member))
        return AttackResult(metrics=metrics, artifacts={"roc": roc}, data={"score": "1 if top-1 label is correct"})
