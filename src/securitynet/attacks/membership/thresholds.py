"""Decision thresholds for membership scores, chosen only on data the attacker is allowed to know.

An attack that outputs a member/non-member decision needs a threshold. Choosing it on the evaluation set
itself gives the best balanced accuracy over all thresholds (reported as ``balanced_accuracy``, an upper
bound); a real attacker has to fix it beforehand, on

- *shadow* data: the scores of shadow models on their own training data (members) and on held-out
  population data (non-members) - Shokri et al. 2017, Song and Mittal 2021; or
- a *known labelled fraction* of the target's members and non-members (the partial-knowledge threat
  model), after which the attack is evaluated on the rest only.

Every function here takes the attacker's data and returns thresholds; `decide` applies them to the
evaluation scores. Higher scores mean "member"; a score at or above its threshold is called a member.
Class-dependent thresholds (Song and Mittal 2021) are available for metrics whose scale depends on the
class, with a global threshold for classes the attacker has too few examples of.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

# Below this many attacker examples per side, a class falls back to the global threshold.
MIN_PER_CLASS = 5


def best_threshold(scores: Any, is_member: Any) -> float:
    """The threshold that maximises (TPR + TNR) / 2 on the attacker's labelled scores.

    It lies halfway between the lowest score called a member and the next lower score, so a new score
    equal to neither is classified as it would be by the nearest attacker example. Returns +inf when
    calling nobody a member is best (the attacker's members do not score higher than its non-members).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(is_member, dtype=bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores for {labels.size} membership labels")
    if labels.all() or not labels.any():
        raise ValueError("choosing a threshold needs attacker data with both members and non-members")
    if not np.isfinite(scores).all():
        raise ValueError("attacker scores must be finite to choose a threshold from them")
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))  # ties: the first, i.e. the most conservative threshold
    if best == 0:
        return float("inf")
    lower = np.unique(scores[scores < thresholds[best]])
    if lower.size == 0:
        return float(thresholds[best])
    return float((thresholds[best] + lower[-1]) / 2.0)


def class_thresholds(
    scores: Any, is_member: Any, labels: Any, num_classes: int, *, min_per_class: int = MIN_PER_CLASS
) -> np.ndarray:
    """One threshold per class (Song and Mittal's class-dependent thresholds), shape (num_classes,).

    A class with fewer than ``min_per_class`` attacker members or non-members gets the global threshold.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    members = np.asarray(is_member, dtype=bool).ravel()
    labels = np.asarray(labels).ravel()
    if not (scores.shape == members.shape == labels.shape):
        raise ValueError(f"{scores.size} scores, {members.size} membership labels and {labels.size} class labels")
    overall = best_threshold(scores, members)
    out = np.full(num_classes, overall, dtype=np.float64)
    for c in range(num_classes):
        mask = labels == c
        if (members & mask).sum() >= min_per_class and (~members & mask).sum() >= min_per_class:
            out[c] = best_threshold(scores[mask], members[mask])
    return out


def decide(scores: Any, thresholds: float | np.ndarray, labels: Any = None) -> np.ndarray:
    """Member decisions: score >= threshold (the threshold of each example's class when given per class)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if np.ndim(thresholds) == 0:
        return scores >= float(thresholds)
    if labels is None:
        raise ValueError("per-class thresholds need the class label of every score")
    per_example = np.asarray(thresholds, dtype=np.float64)[np.asarray(labels).ravel()]
    return scores >= per_example


def choose_thresholds(
    scores: Any, is_member: Any, *, labels: Any = None, num_classes: int | None = None, per_class: bool = False
) -> float | np.ndarray:
    """A global threshold, or per-class thresholds when ``per_class`` (then labels and num_classes are needed)."""
    if not per_class:
        return best_threshold(scores, is_member)
    if labels is None or num_classes is None:
        raise ValueError("per-class thresholds need the class labels and the number of classes")
    return class_thresholds(scores, is_member, labels, num_classes)


def describe_thresholds(thresholds: float | np.ndarray) -> Any:
    """JSON-able form for the job's record (inf stays readable)."""
    if np.ndim(thresholds) == 0:
        return _json_float(float(thresholds))
    return [_json_float(float(t)) for t in np.asarray(thresholds)]


def _json_float(value: float) -> float | str:
    return value if np.isfinite(value) else ("inf" if value > 0 else "-inf")
