"""Metric-based membership attacks: one number per record from the target's posterior, no attack model.

Scores, higher = member (p is the posterior row, y the true label, eps = 1e-30 inside logarithms):

- ``mia.confidence``: p_y (Yeom et al. 2018; Salem et al. 2019);
- ``mia.entropy``: minus the prediction entropy, -(-sum_i p_i log p_i) (Salem et al. 2019; Song and Mittal);
- ``mia.modified_entropy``: minus Song and Mittal's modified entropy
  ``-(1-p_y) log p_y - sum_{i != y} p_i log(1-p_i)``, which, unlike entropy, uses the label and is
  monotone in p_y for a fixed rest;
- ``mia.loss``: minus the cross-entropy loss -log p_y (Yeom et al. 2018), computed as
  ``log1p(sum_{i != y} p_i / p_y)`` so that it keeps its resolution where p_y rounds to 1 in float32
  (exactly the records of an overfitted model that the attack is about).

The threshold-free metrics need no threshold. ``accuracy_at_threshold`` uses a threshold chosen on data the
attacker may know (``threshold_source``): the same metric on shadow models' outputs on their own training
data and on held-out population data (default), or on a known labelled fraction of the target's members
and non-members, in which case every metric is computed on the remaining records only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from securitynet.attacks.base import AttackContext, AttackResult
from securitynet.attacks.membership import thresholds as th
from securitynet.attacks.membership.attack import MembershipAttack
from securitynet.attacks.membership.params import ThresholdParams, offline_set, sets_for
from securitynet.attacks.membership.report import membership_result
from securitynet.attacks.membership.sets import MembershipSets, split_known
from securitynet.attacks.registry import register_attack

EPS = 1e-30


def _as_float(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).ravel()
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"posteriors of shape {p.shape} for {y.shape[0]} labels")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in [0, {p.shape[1]}), got {int(y.min())}..{int(y.max())}")
    return p, y


def _others_mask(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    mask = np.ones(p.shape, dtype=bool)
    mask[np.arange(len(y)), y] = False
    return mask


def _true_and_rest(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p_y and sum_{i != y} p_i, the latter summed directly (1 - p_y would cancel to 0 near p_y = 1)."""
    return p[np.arange(len(y)), y], np.where(_others_mask(p, y), p, 0.0).sum(axis=1)


def confidence(probs: Any, labels: Any) -> np.ndarray:
    """p_y: the posterior of the true class."""
    p, y = _as_float(probs, labels)
    return p[np.arange(len(y)), y]


def entropy(probs: Any) -> np.ndarray:
    """-sum_i p_i log p_i (lower for members)."""
    p = np.asarray(probs, dtype=np.float64)
    return -(p * np.log(np.maximum(p, EPS))).sum(axis=1)


def modified_entropy(probs: Any, labels: Any) -> np.ndarray:
    """Song and Mittal's -(1-p_y) log p_y - sum_{i != y} p_i log(1-p_i) (lower for members)."""
    p, y = _as_float(probs, labels)
    true, rest = _true_and_rest(p, y)
    others = _others_mask(p, y)
    term_true = -rest * np.log(np.maximum(true, EPS))
    term_rest = -(np.where(others, p * np.log(np.maximum(1.0 - p, EPS)), 0.0)).sum(axis=1)
    return term_true + term_rest


def cross_entropy_loss(probs: Any, labels: Any) -> np.ndarray:
    """-log p_y, as log1p(sum_{i != y} p_i / p_y) (exact in real arithmetic, no cancellation near p_y = 1)."""
    p, y = _as_float(probs, labels)
    true, rest = _true_and_rest(p, y)
    return np.log1p(rest / np.maximum(true, EPS))


# score functions: higher = member
SCORES = {
    "confidence": lambda p, y: confidence(p, y),
    "entropy": lambda p, y: -entropy(p),
    "modified_entropy": lambda p, y: -modified_entropy(p, y),
    "loss": lambda p, y: -cross_entropy_loss(p, y),
}


class MetricParams(ThresholdParams):
    per_class_threshold: bool = Field(
        False, description="one threshold per class (Song and Mittal), global for classes with few examples"
    )


class MetricAttack(MembershipAttack):
    """Shared run: score the evaluation sets, choose a threshold on attacker-known data, report."""

    access = "posterior"
    Params = MetricParams
    metric: ClassVar[str]

    def score(self, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return SCORES[self.metric](probs, labels)

    def _scores(self, ctx: AttackContext, target: Any, sets: MembershipSets) -> np.ndarray:
        return np.concatenate(
            [
                self.score(ctx.posteriors(target, sets.members), sets.members.labels),
                self.score(ctx.posteriors(target, sets.nonmembers), sets.nonmembers.labels),
            ]
        )

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: MetricParams = self.params  # type: ignore[assignment]
        sets = sets_for(ctx, params)
        num_classes = ctx.card.num_classes
        if params.threshold_source == "partial":
            known, evaluated = split_known(ctx, sets, params.known_fraction)
            _, known_labels, known_member = known.combined()
            attacker_scores = self._scores(ctx, target, known)
        else:
            evaluated = sets
        scores = self._scores(ctx, target, evaluated)
        _, eval_labels, _ = evaluated.combined()

        if params.threshold_source == "none":
            return membership_result(ctx, scores, evaluated, no_threshold_reason="threshold_source is 'none'")
        if params.threshold_source == "shadow":
            attacker_scores, known_member, known_labels = self._shadow_scores(ctx, params, sets)
        thresholds = th.choose_thresholds(
            attacker_scores, known_member, labels=known_labels, num_classes=num_classes,
            per_class=params.per_class_threshold,
        )
        decisions = th.decide(scores, thresholds, eval_labels)
        return membership_result(
            ctx, scores, evaluated, decisions=decisions,
            threshold={"source": params.threshold_source, "per_class": params.per_class_threshold,
                       "value": th.describe_thresholds(thresholds)},
        )

    def _shadow_scores(
        self, ctx: AttackContext, params: MetricParams, sets: MembershipSets
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The metric on the shadow models' outputs: their own training images (IN) and as many other ones (OUT)."""
        shadows = offline_set(ctx, params, sets, params.n_shadow)
        scores, members, labels = [], [], []
        for row, model in enumerate(shadows.models):
            sample = shadows.balanced_sample(sets.population, row)
            scores.append(self.score(ctx.posteriors(model.target, sample), sample.labels))
            members.append(shadows.trained_on(sample)[row])
            labels.append(sample.labels)
        return np.concatenate(scores), np.concatenate(members), np.concatenate(labels)


@register_attack
class ConfidenceAttack(MetricAttack):
    name = "mia.confidence"
    version = "1"
    metric = "confidence"
    description = "posterior of the true class (Yeom et al. 2018; Salem et al. 2019)"


@register_attack
class EntropyAttack(MetricAttack):
    name = "mia.entropy"
    version = "1"
    metric = "entropy"
    description = "minus the prediction entropy (Salem et al. 2019)"


@register_attack
class ModifiedEntropyAttack(MetricAttack):
    name = "mia.modified_entropy"
    version = "1"
    metric = "modified_entropy"
    description = "minus the modified prediction entropy (Song and Mittal 2021)"


@register_attack
class LossAttack(MetricAttack):
    name = "mia.loss"
    version = "1"
    metric = "loss"
    description = "minus the cross-entropy loss of the true class (Yeom et al. 2018)"
