"""What every backdoor detector declares alike, stated once: a subclass gives only its name, version, access,
description, parameters, why it needs 2-D images, and ``run`` (and its score metrics where it has more)."""

from __future__ import annotations

from typing import ClassVar

from securitynet.attacks.backdoor.metrics import HEADLINE_METRICS
from securitynet.attacks.base import Attack
from securitynet.catalog.card import ModelCard


class BackdoorDetector(Attack):
    """A backdoor detector: a per-model ``score`` that points to backdoored models, headline verdict, score and
    suspected target, and 2-D image classifiers only (``image_reason`` says why, for a model without)."""

    family = "backdoor"
    headline_metrics = HEADLINE_METRICS
    score_metrics: ClassVar[tuple[str, ...]] = ("score",)
    score_direction = "higher-is-backdoored"
    image_reason: ClassVar[str] = "the detector works on 2-D images"

    def applicable(self, card: ModelCard) -> str | None:
        if card.input is None or len(card.input.size) != 2:
            return self.image_reason
        return None
