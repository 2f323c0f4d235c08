"""The data of a membership attack: evaluation members and non-members, and the attacker's own population.

All attacks of this suite on one model see the same evaluation sets for a given seed (paired comparisons):

- the *attacker population* is a seeded fraction of the non-member split (by default half of it). It
  depends only on the dataset, the seed and the fraction, never on the target, so shadow and reference
  models trained on it are reused across every target of that dataset and architecture;
- the *evaluation members and non-members* come from ``ctx.membership`` with the population excluded, so
  the attacker never trained on, or tuned a threshold with, an image it is evaluated on. For a model
  trained on a subset of its training split (``card.training_indices``), ``ctx.membership`` draws members
  from that subset only, since the rest of the split holds no members.

Everything drawn is recorded in the job (the context records the evaluation indices; the population's
split, seed and indices are recorded here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from securitynet import seeds
from securitynet.attacks.base import AttackContext, AttackError
from securitynet.catalog.card import ModelCard
from securitynet.data.membership import combine_members

# Bump when a change here draws different populations or evaluation sets for the same arguments.
SETS_VERSION = "1"


@dataclass(frozen=True)
class MembershipSets:
    """Evaluation members and non-members (balanced) and the attacker's population (disjoint from both)."""

    members: Any  # ArraySplit
    nonmembers: Any  # ArraySplit
    population: Any | None  # ArraySplit, or None when the attack needs no population

    @property
    def n(self) -> int:
        return len(self.members)

    def combined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, labels, is_member) of members followed by non-members."""
        return combine_members(self.members, self.nonmembers)


def derive_seed(*parts: object) -> int:
    """`securitynet.seeds.derive_seed` at 32 bits: scikit-learn's ``random_state`` takes seeds below 2**32."""
    return seeds.derive_seed(*parts, bits=32)


def attacker_population(ctx: AttackContext, fraction: float, split: str | None = None) -> Any:
    """A seeded ``fraction`` of ``split`` (default: the dataset's non-member split): the attacker's own data."""
    from securitynet.data import load_split
    from securitynet.data.membership import disjoint_subsets

    info = ctx.dataset_info()
    split = split or info.nonmember_split
    if split is None:
        raise AttackError(f"dataset {info.name} has no held-out split from which an attacker population can be drawn")
    if not 0.0 < fraction < 1.0:
        raise AttackError(f"population_fraction must be in (0, 1), got {fraction}")
    # Loaded directly rather than through ctx.load_split: the population is recorded below, with its indices,
    # and the context's own data record stays the evaluation sample alone.
    data = load_split(info.name, split)
    size = int(round(fraction * len(data)))
    if size < 2 or size > len(data) - 2:
        raise AttackError(f"{info.name}/{split} has {len(data)} images: a fraction {fraction} leaves too few on a side")
    seed = derive_seed(ctx.seed, info.name, split, f"{fraction:.6g}", "mia-population", SETS_VERSION)
    (population,) = disjoint_subsets(data, [size], seed=seed)
    ctx.record(
        "attacker_population",
        {
            "dataset": info.name,
            "split": split,
            "fraction": fraction,
            "n": len(population),
            "seed": ctx.seed,
            "fingerprint": population.fingerprint(),
            "indices": np.asarray(population.indices).tolist(),
        },
    )
    return population


def evaluation_sets(
    ctx: AttackContext,
    n: int,
    *,
    member_split: str | None = None,
    nonmember_split: str | None = None,
    population_fraction: float | None = 0.5,
) -> MembershipSets:
    """The evaluation members/non-members of the target, with the attacker population kept out of them.

    ``population_fraction`` None draws no population (attacks that train nothing still exclude the
    population of the default fraction, so that their sets equal those of the other attacks: pass the
    same fraction and ignore ``population``).
    """
    exclude: dict[str, np.ndarray] = {}
    population = None
    if population_fraction is not None:
        population = attacker_population(ctx, population_fraction, split=nonmember_split)
        exclude[population.split] = np.asarray(population.indices)
    # ctx.membership keeps members inside card.training_indices for a model trained on a subset.
    sample = ctx.membership(
        n, member_split=member_split, nonmember_split=nonmember_split, exclude=exclude or None
    )
    return MembershipSets(members=sample.members, nonmembers=sample.nonmembers, population=population)


def split_known(
    ctx: AttackContext, sets: MembershipSets, known_fraction: float
) -> tuple[MembershipSets, MembershipSets]:
    """(known, evaluated): a seeded ``known_fraction`` of the members and of the non-members, and the rest.

    The partial-knowledge threat model: the attacker holds the membership labels of the known part and
    is evaluated on the rest only. Both parts are recorded.
    """
    if not 0.0 < known_fraction < 1.0:
        raise AttackError(f"known_fraction must be in (0, 1), got {known_fraction}")
    rng = np.random.default_rng(derive_seed(ctx.seed, ctx.card.dataset, f"{known_fraction:.6g}", "mia-known"))
    n_known = int(round(known_fraction * sets.n))
    if n_known < 1 or n_known > sets.n - 1:
        raise AttackError(
            f"a known fraction {known_fraction} of {sets.n} members leaves no known or no evaluated examples"
        )
    parts = {}
    for side, data in (("members", sets.members), ("nonmembers", sets.nonmembers)):
        order = rng.permutation(len(data))
        parts[side] = (data.subset(np.sort(order[:n_known])), data.subset(np.sort(order[n_known:])))
    known = MembershipSets(parts["members"][0], parts["nonmembers"][0], sets.population)
    evaluated = MembershipSets(parts["members"][1], parts["nonmembers"][1], sets.population)
    ctx.record(
        "known_to_attacker",
        {
            "fraction": known_fraction,
            "member_indices": np.asarray(known.members.indices).tolist(),
            "nonmember_indices": np.asarray(known.nonmembers.indices).tolist(),
        },
    )
    return known, evaluated


def single_label_reason(card: ModelCard, why: str = "there is no single true class to score") -> str | None:
    """None when the model's dataset has one class per image, else why a membership attack cannot score it."""
    from securitynet.data import get_dataset
    from securitynet.errors import DatasetError

    try:
        task = get_dataset(card.dataset).task
    except DatasetError:
        return None  # the job then fails with the data error itself, recorded with the model
    if task.startswith("multi-label"):
        return f"{card.dataset} is multi-label: {why}"
    return None
