"""Parameters shared by the membership attacks, and the helpers that turn them into data and models.

Shared names mean shared meaning (and, with equal values, shared cached reference models): ``n`` is the
number of evaluation members and of non-members; ``population_fraction`` the part of the non-member split
the attacker owns; the ``reference_*`` fields decide the shadow/reference models (`reference_choice`,
`reference_sets`), which the context's provider (``ctx.reference_models``) trains once and caches.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from securitynet.attacks.base import AttackContext, AttackParams
from securitynet.attacks.membership import reference_choice
from securitynet.attacks.membership.reference_sets import ReferenceSet, offline_references, online_references
from securitynet.attacks.membership.sets import MembershipSets, derive_seed, evaluation_sets
from securitynet.zoo.reference_spec import ReferenceSpec


class MembershipParams(AttackParams):
    n: int = Field(1000, ge=2, description="evaluation members, and as many non-members")
    member_split: str | None = Field(None, description="split of the members (default: the training split)")
    nonmember_split: str | None = Field(None, description="split of the non-members (default: held-out split)")
    population_fraction: float = Field(
        0.5, gt=0.0, lt=1.0,
        description="fraction of the non-member split owned by the attacker (kept out of the evaluation sets)",
    )


class ReferenceParams(MembershipParams):
    reference_epochs: int | None = Field(
        None, ge=1, description="epochs of shadow/reference training (default: the target's recipe, else 20)"
    )
    reference_train_size: int | None = Field(
        None, ge=1, description="images per shadow/reference model (default: the target's, capped at half the pool)"
    )
    reference_max_params: int = Field(
        reference_choice.DEFAULT_MAX_PARAMS, ge=1,
        description="largest target architecture (parameters) trained as its own reference",
    )
    reference_max_macs: int = Field(
        reference_choice.DEFAULT_MAX_MACS, ge=1,
        description="costliest target architecture (multiply-accumulates per image) trained as its own reference",
    )
    reference_fallback: Literal["small_cnn", "wrn", "lenet", "mlp"] = Field(
        "small_cnn", description="architecture used when the target's cannot be trained here"
    )


class ThresholdParams(ReferenceParams):
    threshold_source: Literal["shadow", "partial", "none"] = Field(
        "shadow",
        description="where the decision threshold comes from: shadow-model outputs, a known labelled "
        "fraction of the target's members/non-members (evaluated on the rest), or nowhere",
    )
    known_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="labelled fraction known in the partial setting")
    n_shadow: int = Field(1, ge=1, description="shadow models whose outputs the threshold is chosen on")


class LeaveOneOutParams(ReferenceParams):
    """LiRA's and RMIA's: how many reference models, and whether model 0 calibrates a decision threshold."""

    n_reference: int = Field(16, ge=2, description="reference models")
    choose_threshold: bool = Field(
        True, description="choose a threshold by attacking reference model 0 with the others (leave one out)"
    )


def sets_for(ctx: AttackContext, params: MembershipParams) -> MembershipSets:
    return evaluation_sets(
        ctx, params.n, member_split=params.member_split, nonmember_split=params.nonmember_split,
        population_fraction=params.population_fraction,
    )


def spec_for(ctx: AttackContext, params: ReferenceParams) -> ReferenceSpec:
    return reference_choice.reference_spec(
        ctx.card, epochs=params.reference_epochs, max_params=params.reference_max_params,
        max_macs=params.reference_max_macs, fallback=params.reference_fallback,
    )


def offline_set(ctx: AttackContext, params: ReferenceParams, sets: MembershipSets, count: int) -> ReferenceSet:
    """The first ``count`` offline reference (= shadow) models of this dataset, population and seed."""
    reference_set = offline_references(
        ctx.reference_models, spec_for(ctx, params), sets.population, count,
        seed=derive_seed(ctx.seed, "mia-references"), train_size=params.reference_train_size,
    )
    ctx.record("reference_models", reference_set.describe())
    return reference_set


def online_set(ctx: AttackContext, params: ReferenceParams, sets: MembershipSets, count: int) -> ReferenceSet:
    reference_set = online_references(
        ctx.reference_models, spec_for(ctx, params), [sets.members, sets.nonmembers], sets.population, count,
        seed=derive_seed(ctx.seed, "mia-references"), train_size=params.reference_train_size,
    )
    ctx.record("reference_models", reference_set.describe())
    return reference_set

