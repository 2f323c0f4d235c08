"""What every membership attack declares alike, stated once: a subclass gives only its name, version,
access, description, parameters and ``run``."""

from __future__ import annotations

from typing import ClassVar

from securitynet.attacks.base import Attack
from securitynet.attacks.membership.metrics import HEADLINE_METRICS
from securitynet.attacks.membership.sets import single_label_reason
from securitynet.catalog.card import ModelCard


class MembershipAttack(Attack):
    """A membership attack: scores that point to members, headline AUC and TPR at 1% FPR, and models whose
    dataset has one true class per image (``multi_label_reason`` says why a multi-label one is skipped)."""

    family = "membership"
    headline_metrics = HEADLINE_METRICS
    score_direction = "higher-is-member"
    multi_label_reason: ClassVar[str] = "there is no single true class to score"

    def applicable(self, card: ModelCard) -> str | None:
        return single_label_reason(card, self.multi_label_reason)
