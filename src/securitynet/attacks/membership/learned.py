"""Learned membership attacks: an MLP attack model on the target's posterior (Shokri et al. 2017; Salem et al. 2019).

Features of a record (posterior p, true label y):

- ``mia.mlp_sorted``: the full posterior sorted in decreasing order (Salem et al.'s class-agnostic attack);
- ``mia.mlp_top3``: its three largest entries (Salem et al.: as strong with far fewer features);
- ``mia.mlp_label``: the posterior in class order together with the one-hot true label (Nasr et al.'s /
  ML-Doctor's label-aware attack; one model for all classes instead of Shokri's one per class).

``feature_transform`` ``log`` (default) feeds log(max(p, 1e-30)) rather than p: members and non-members of
an overfitted model differ in how close p_y is to 1 and in how small the rest is, a difference that raw
probabilities squeeze into the last decimals. Features are standardised; the attack model is
scikit-learn's ``MLPClassifier`` (one hidden layer of 64 ReLU units by default, Adam, seeded).

Threat models (``threat_model``):

- ``shadow``: the attack model is trained on shadow models' outputs: their own training images (label
  member) and the rest of the attacker population (non-member). Shadow models are the first
  ``n_shadow`` offline reference models (`reference_sets`): the target's architecture and recipe where
  it can be trained here, trained on population data disjoint from the evaluation sets;
- ``partial``: the attacker knows the membership of a ``known_fraction`` of the evaluation members and
  non-members, trains the attack model on the target's own outputs on them and is evaluated on the rest.

Score: the attack model's member probability. ``accuracy_at_threshold``: its own decision (probability
>= 0.5), a rule fixed by the attacker's training data alone.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from securitynet.attacks.base import AttackContext, AttackResult
from securitynet.attacks.membership.attack import MembershipAttack
from securitynet.attacks.membership.params import ReferenceParams, offline_set, sets_for
from securitynet.attacks.membership.report import membership_result
from securitynet.attacks.membership.sets import MembershipSets, derive_seed, split_known
from securitynet.attacks.registry import register_attack

FeatureKind = Literal["sorted", "top3", "label"]
_LOG_FLOOR = 1e-30


def attack_features(probs: Any, labels: Any, kind: FeatureKind, transform: str = "log") -> np.ndarray:
    """The attack model's input for each record (rows of ``probs``)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"posteriors must be (records, classes), got shape {p.shape}")
    if kind == "label":
        y = np.asarray(labels, dtype=np.int64).ravel()
        values = _transform(p, transform)
        one_hot = np.zeros_like(p)
        one_hot[np.arange(len(y)), y] = 1.0
        return np.concatenate([values, one_hot], axis=1)
    ordered = -np.sort(-p, axis=1)
    if kind == "top3":
        ordered = ordered[:, : min(3, p.shape[1])]
    elif kind != "sorted":
        raise ValueError(f"unknown feature kind {kind!r}")
    return _transform(ordered, transform)


def _transform(p: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        return np.log(np.maximum(p, _LOG_FLOOR))
    if transform == "raw":
        return p
    raise ValueError(f"unknown feature transform {transform!r}")


def fit_attack_model(features: np.ndarray, is_member: np.ndarray, *, hidden: tuple[int, ...], seed: int,
                     max_iter: int) -> Any:
    """A standardising MLP classifier fitted on the attacker's labelled features."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, random_state=seed, early_stopping=False),
    )
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Hitting max_iter is the documented budget, not a failure; the number of iterations is recorded.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, np.asarray(is_member, dtype=int))
    return model


class LearnedParams(ReferenceParams):
    threat_model: Literal["shadow", "partial"] = Field("shadow", description="how the attack model is trained")
    known_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="labelled fraction known in the partial setting")
    n_shadow: int = Field(1, ge=1, description="shadow models whose outputs train the attack model")
    hidden: tuple[int, ...] = Field((64,), description="hidden layer widths of the attack MLP")
    max_iter: int = Field(200, ge=1, description="training epochs of the attack MLP")
    feature_transform: Literal["log", "raw"] = Field("log", description="log or raw probabilities as features")


class LearnedAttack(MembershipAttack):
    access = "posterior"
    Params = LearnedParams
    features: ClassVar[FeatureKind]

    def _features(self, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        params: LearnedParams = self.params  # type: ignore[assignment]
        return attack_features(probs, labels, self.features, params.feature_transform)

    def _target_features(self, ctx: AttackContext, target: Any, sets: MembershipSets) -> np.ndarray:
        return np.concatenate([self._features(ctx.posteriors(target, s), s.labels)
                               for s in (sets.members, sets.nonmembers)])

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: LearnedParams = self.params  # type: ignore[assignment]
        sets = sets_for(ctx, params)
        if params.threat_model == "partial":
            known, evaluated = split_known(ctx, sets, params.known_fraction)
            train_x = self._target_features(ctx, target, known)
            _, _, train_y = known.combined()
            source = "the target's outputs on the known labelled fraction"
        else:
            evaluated = sets
            train_x, train_y = self._shadow_training_data(ctx, params, sets)
            source = f"{params.n_shadow} shadow model(s) on the attacker population"
        model = fit_attack_model(
            train_x, train_y, hidden=tuple(params.hidden), seed=derive_seed(ctx.seed, ctx.job_key, "attack-mlp"),
            max_iter=params.max_iter,
        )
        member_probability = model.predict_proba(self._target_features(ctx, target, evaluated))[:, 1]
        mlp = model[-1]
        return membership_result(
            ctx, member_probability, evaluated, decisions=member_probability >= 0.5,
            threshold={"source": "the attack model's own decision (member probability >= 0.5)", "value": 0.5},
            data={"attack_model": {"trained_on": source, "n_train": int(len(train_y)),
                                   "n_train_members": int(np.sum(train_y)), "iterations": int(mlp.n_iter_),
                                   "final_loss": float(mlp.loss_)}},
        )

    def _shadow_training_data(
        self, ctx: AttackContext, params: LearnedParams, sets: MembershipSets
    ) -> tuple[np.ndarray, np.ndarray]:
        """Shadow outputs on their own training images and on as many other population images (balanced)."""
        shadows = offline_set(ctx, params, sets, params.n_shadow)
        features, labels = [], []
        for row, model in enumerate(shadows.models):
            sample = shadows.balanced_sample(sets.population, row)
            features.append(self._features(ctx.posteriors(model.target, sample), sample.labels))
            labels.append(shadows.trained_on(sample)[row])
        return np.concatenate(features), np.concatenate(labels)


@register_attack
class SortedPosteriorAttack(LearnedAttack):
    name = "mia.mlp_sorted"
    version = "1"
    features = "sorted"
    description = "MLP on the full sorted posterior (Salem et al. 2019), shadow or partial threat model"


@register_attack
class Top3PosteriorAttack(LearnedAttack):
    name = "mia.mlp_top3"
    version = "1"
    features = "top3"
    description = "MLP on the three largest posteriors (Salem et al. 2019), shadow or partial threat model"


@register_attack
class PosteriorLabelAttack(LearnedAttack):
    name = "mia.mlp_label"
    version = "1"
    features = "label"
    description = "MLP on the posterior and the one-hot true label (Nasr et al. 2018), shadow or partial"
