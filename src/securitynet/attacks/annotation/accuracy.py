"""``annotation.accuracy``: train accuracy on the member pool, test accuracy, overfit gap, classes, training size.

`train_accuracy` is top-1 accuracy on the member pool (`splits.resolve_splits`: the split the card says the
model was trained on), `test_accuracy` on the dataset's test split, `overfit_gap` = train - test, `num_classes`
the number of columns of the model's posteriors, and `train_size` the card's training-set size (missing, with
its reason, when the card does not know it). Accuracies are fractions in [0, 1].

The job's parameters are what was asked (explicit splits, a cap on images); what they resolved to (splits,
sizes, fingerprints, source files, why this member pool) is recorded in the job's data. Posteriors come from
the engine's posterior cache, so a split already predicted for another job is not predicted again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from securitynet.attacks.annotation.splits import resolve_splits
from securitynet.attacks.base import Attack, AttackContext, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack
from securitynet.errors import DatasetError, SecurityNetError

ANNOTATION_ATTACK = "annotation.accuracy"
ANNOTATION_METRICS = ("train_accuracy", "test_accuracy", "overfit_gap", "num_classes", "train_size")


class AnnotationParams(AttackParams):
    member_split: str | None = Field(None, description="Member pool split (default: the card's training split).")
    test_split: str | None = Field(None, description="Held-out split (default: the dataset's test split).")
    max_images: int | None = Field(None, ge=1, description="At most this many images per split (a seeded subset).")


def _accuracy(ctx: AttackContext, target: Any, split: Any) -> tuple[float, int]:
    """Top-1 accuracy and the number of output columns; labels are single class indices."""
    if split.labels.ndim != 1:
        raise DatasetError(f"{split.dataset}/{split.split} is multi-label; top-1 accuracy is undefined")
    if len(split) == 0:
        raise DatasetError(f"{split.dataset}/{split.split} holds no images")
    probs = ctx.posteriors(target, split)
    correct = int((probs.argmax(axis=1) == np.asarray(split.labels)).sum())
    return correct / len(split), int(probs.shape[1])


@register_attack
class AnnotationAccuracy(Attack):
    name = ANNOTATION_ATTACK
    # 3: the same numbers as the former "annotation" attack (version 2: subset-trained models use only
    # their training images as members), now run by the engine under this name.
    version = "3"
    access = "posterior"
    description = "Train accuracy on the member pool, test accuracy, overfit gap, output classes, training size."
    Params = AnnotationParams
    headline_metrics = ("train_accuracy", "test_accuracy", "overfit_gap")
    family = "annotation"  # no score over models: score_metrics and score_direction stay unset

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: AnnotationParams = self.params  # type: ignore[assignment]
        card = ctx.card
        splits = resolve_splits(card, member_split=params.member_split, test_split=params.test_split,
                                max_images=params.max_images)
        train_accuracy, train_width = _accuracy(ctx, target, splits.member)
        test_accuracy, test_width = _accuracy(ctx, target, splits.test)
        if train_width != test_width:
            raise SecurityNetError(f"model {card.id} returned {train_width} and {test_width} outputs on two splits")
        missing: dict[str, str] = {}
        if card.train_size is None:
            missing["train_size"] = card.missing_reasons.get("train_size",
                                                             "training-set size unknown (not on the card)")
        metrics: dict[str, float | None] = {
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "overfit_gap": train_accuracy - test_accuracy,
            "num_classes": float(train_width),
            "train_size": None if card.train_size is None else float(card.train_size),
        }
        return AttackResult(metrics=metrics, missing_reasons=missing,
                            data={**splits.data(), "resolved": splits.params()})
