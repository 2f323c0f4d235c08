"""Member / non-member sets for membership inference, and disjoint pools carved out of one split.

Members come from the split the target was trained on, non-members from a split it never saw. Both sets
have the same size n (reduced, and the reduction recorded, when a split has fewer usable images), are
drawn with a seeded numpy Generator, and leave out the images a caller excludes (the queries of a
stealing attack, the labelled fraction an attacker knows, the pools of shadow models).

Splits with near-duplicate groups (GTSRB tracks) are divided by group, never by image: when members and
non-members come from the same split no group lands on both sides, and an excluded image takes its
whole group out of the draw.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from securitynet.data.registry import DatasetInfo, get_dataset, load_split, resolve_member_split
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError

# Bump when a change to the sampling would draw different images for the same arguments.
SAMPLER_VERSION = 1

Exclude = Mapping[str, Iterable[int]] | ArraySplit | Sequence[ArraySplit] | None


@dataclass(frozen=True)
class MembershipSample:
    """Balanced members and non-members and everything needed to draw them again."""

    members: ArraySplit
    nonmembers: ArraySplit
    seed: int
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.members)

    def combined(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, labels, is_member) of members followed by non-members, for attacks that score both at once."""
        return combine_members(self.members, self.nonmembers)


def combine_members(members: ArraySplit, nonmembers: ArraySplit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, is_member) of ``members`` followed by ``nonmembers``."""
    images = np.concatenate([members.images, nonmembers.images])
    labels = np.concatenate([members.labels, nonmembers.labels])
    is_member = np.concatenate([np.ones(len(members), bool), np.zeros(len(nonmembers), bool)])
    return images, labels, is_member


def normalise_exclude(exclude: Exclude, dataset: str | None = None) -> dict[str, np.ndarray]:
    """{split: sorted unique source-split indices} from a mapping, an ArraySplit or a list of ArraySplits.

    ArraySplits of another dataset than `dataset` are skipped: their images cannot be among this one's
    (an out-of-distribution query set of GTSRB "train" says nothing about MNIST "train").
    """
    if exclude is None:
        return {}
    if isinstance(exclude, ArraySplit):
        exclude = [exclude]
    if isinstance(exclude, Mapping):
        items = [(str(k), np.asarray(list(v) if not isinstance(v, np.ndarray) else v)) for k, v in exclude.items()]
    else:
        items = []
        for part in exclude:
            if not isinstance(part, ArraySplit):
                raise DatasetError(f"exclude takes {{split: indices}}, an ArraySplit or ArraySplits, got {type(part)}")
            if dataset is None or part.dataset == dataset:
                items.append((part.split, part.indices))
    out: dict[str, list[np.ndarray]] = {}
    for split, values in items:
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise DatasetError(f"exclude[{split!r}] must hold integer indices, got {values.dtype}")
        out.setdefault(split, []).append(values.astype(np.int64).reshape(-1))
    return {k: np.unique(np.concatenate(v)) for k, v in out.items()}


def _usable(split: ArraySplit, excluded: np.ndarray, by_group: bool) -> tuple[np.ndarray, dict[str, int]]:
    """Positions in `split` that may be drawn, and counts of what was left out."""
    hit = np.isin(split.indices, excluded)
    info = {"excluded_images": int(hit.sum())}
    if by_group and split.groups is not None and hit.any():
        tainted = np.unique(split.groups[hit])
        drop = np.isin(split.groups, tainted)
        info["excluded_groups"] = int(len(tainted))
        info["dropped_with_their_group"] = int(drop.sum() - hit.sum())
        hit = drop
    return np.flatnonzero(~hit), info


def _group_order(
    split: ArraySplit, positions: np.ndarray, rng: np.random.Generator, by_group: bool
) -> list[np.ndarray] | np.ndarray:
    """What is dealt out, in random order: whole groups (each shuffled inside), or a permutation of images."""
    if not by_group or split.groups is None:
        return rng.permutation(positions)
    groups = split.groups[positions]
    order = np.argsort(groups, kind="stable")
    unique, starts = np.unique(groups[order], return_index=True)
    members = np.split(positions[order], starts[1:])
    return [rng.permutation(members[g]) for g in rng.permutation(len(unique))]


def _deal(units: list[np.ndarray] | np.ndarray, sizes: Sequence[int | None]) -> list[np.ndarray] | None:
    """Fill subsets in turn; a group cut at a subset's end is not used by the next one. None if too few."""
    if isinstance(units, np.ndarray):  # single images: consecutive slices of the permutation
        out, cursor = [], 0
        for size in sizes:
            stop = len(units) if size is None else cursor + size
            if stop > len(units):
                return None
            out.append(np.sort(units[cursor:stop]))
            cursor = stop
        return out
    out, cursor = [], 0
    for size in sizes:
        taken: list[np.ndarray] = []
        count = 0
        while (size is None or count < size) and cursor < len(units):
            unit = units[cursor]
            cursor += 1
            room = len(unit) if size is None else size - count
            taken.append(unit[:room])
            count += min(room, len(unit))
        if size is not None and count < size:
            return None
        out.append(np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64))
    return out


def _check_sizes(sizes: Sequence[int | None]) -> None:
    for i, size in enumerate(sizes):
        if size is None:
            if i != len(sizes) - 1:
                raise DatasetError("only the last size may be None ('all that is left')")
        elif int(size) != size or size < 0:
            raise DatasetError(f"subset sizes must be non-negative integers, got {size!r}")


def disjoint_subsets(
    split: ArraySplit,
    sizes: Sequence[int | None],
    seed: int,
    by_group: bool | None = None,
    exclude: Exclude = None,
) -> list[ArraySplit]:
    """Disjoint random subsets of `split` of exactly `sizes` images (the last may be None: all the rest).

    With groups (by_group defaults to True when the split has them) no group is shared by two subsets; a
    group cut at the end of one subset leaves its remaining images unused. Raises DatasetError when the
    split cannot supply the sizes. Deterministic given the seed.
    """
    _check_sizes(sizes)
    by_group = split.groups is not None if by_group is None else bool(by_group)
    if by_group and split.groups is None:
        raise DatasetError(f"{split.dataset}/{split.split} has no groups to split by")
    excluded = normalise_exclude(exclude, split.dataset).get(split.split, np.zeros(0, dtype=np.int64))
    positions, _ = _usable(split, excluded, by_group)
    units = _group_order(split, positions, np.random.default_rng(seed), by_group)
    dealt = _deal(units, sizes)
    if dealt is None:
        want = sum(s for s in sizes if s is not None)
        raise DatasetError(
            f"{split.dataset}/{split.split}: cannot carve disjoint subsets of {list(sizes)} images from "
            f"{len(positions)} usable images{' (whole groups)' if by_group else ''}; need {want}"
        )
    return [split.subset(p) for p in dealt]


def _largest_balanced(units: list[np.ndarray] | np.ndarray, upper: int) -> int:
    """Largest n <= upper such that two subsets of n can be dealt from `units` in this order.

    Feasibility is monotone in n (the first subset only grows, the rest only shrinks), so bisect.
    """
    if isinstance(units, np.ndarray):
        return min(upper, len(units) // 2)
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _deal(units, [mid, mid]) is not None:
            lo = mid
        else:
            hi = mid - 1
    return lo


def sample_membership(
    dataset: str | DatasetInfo,
    n: int,
    seed: int,
    member_split: str | None = None,
    nonmember_split: str | None = None,
    exclude: Exclude = None,
    *,
    roots: Iterable[str | os.PathLike[str]] | None = None,
    by_group: bool | None = None,
) -> MembershipSample:
    """n members from the training split and n non-members from a held-out split, seeded and recorded.

    member_split / nonmember_split default to the dataset's (the member split resolved against the data
    present, e.g. MNIST 'train' or else 'train_subset_5k'). When both are the same split they are carved
    disjointly from it (by group where the split has groups). `exclude` = {split: indices} (or ArraySplits)
    that must not be drawn. When a split has fewer than n usable images, n is reduced for both sides and
    the reduction is recorded in `description`.
    """
    info = get_dataset(dataset)
    if int(n) != n or n <= 0:
        raise DatasetError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    member_split, member_reason, nonmember_split = _splits(info, member_split, nonmember_split, roots)
    excluded = normalise_exclude(exclude, info.name)
    unknown = sorted(set(excluded) - set(info.splits))
    if unknown:  # a misspelt split would silently exclude nothing
        raise DatasetError(
            f"exclude names split(s) {unknown} that {info.name!r} does not have ({', '.join(info.splits)})"
        )
    members_from = load_split(info, member_split, roots)
    nonmembers_from = members_from if nonmember_split == member_split else load_split(info, nonmember_split, roots)
    has_groups = members_from.groups is not None or nonmembers_from.groups is not None
    grouped = by_group if by_group is not None else has_groups
    if grouped and members_from.groups is None and nonmembers_from.groups is None:
        raise DatasetError(f"{info.name}: by_group=True but neither split has groups")

    seeds = np.random.SeedSequence(seed).spawn(2)
    description: dict[str, Any] = {
        "sampler_version": SAMPLER_VERSION,
        "dataset": info.name,
        "member_split": member_split,
        "member_split_reason": member_reason,
        "nonmember_split": nonmember_split,
        "seed": seed,
        "n_requested": n,
        "by_group": bool(grouped),
        "exclude_counts": {k: int(len(v)) for k, v in excluded.items()},
    }
    if member_split == nonmember_split:
        member_pos, nonmember_pos = _draw_from_one_split(members_from, n, excluded, grouped, seeds[0], description)
    else:
        member_pos, nonmember_pos = _draw_from_two_splits(
            members_from, nonmembers_from, n, excluded, grouped, seeds, description
        )
    n_used = len(member_pos)
    if n_used == 0:
        raise DatasetError(
            f"{info.name}: no members/non-members left to draw from {member_split!r}/{nonmember_split!r} "
            f"after exclusions ({description['usable']})"
        )
    members, nonmembers = members_from.subset(member_pos), nonmembers_from.subset(nonmember_pos)
    description["n"] = n_used
    if n_used < n:
        description["n_reduced_because"] = (
            f"only {n_used} balanced pairs available ({description['usable']}); asked for {n}"
        )
    description.update(
        member_source=members_from.source,
        nonmember_source=nonmembers_from.source,
        member_fingerprint=members.fingerprint(),
        nonmember_fingerprint=nonmembers.fingerprint(),
    )
    return MembershipSample(members=members, nonmembers=nonmembers, seed=seed, description=description)


def _splits(
    info: DatasetInfo,
    member_split: str | None,
    nonmember_split: str | None,
    roots: Iterable[str | os.PathLike[str]] | None,
) -> tuple[str, str, str]:
    """(member split, why it was chosen, non-member split): the caller's, else the dataset's."""
    if member_split is None:
        member_split, member_reason = resolve_member_split(info, roots)
        if member_split is None:
            raise DatasetError(f"dataset {info.name!r} has no member split: {member_reason}")
    else:
        member_reason = "given by the caller"
    nonmember_split = nonmember_split or info.nonmember_split
    if nonmember_split is None:
        raise DatasetError(f"dataset {info.name!r} has no held-out split for non-members; pass nonmember_split")
    return member_split, member_reason, nonmember_split


def _draw_from_one_split(
    split: ArraySplit,
    n: int,
    excluded: dict[str, np.ndarray],
    grouped: bool,
    seed: np.random.SeedSequence,
    description: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Members and non-members carved disjointly from one split (by whole groups where it has them)."""
    positions, left_out = _usable(split, excluded.get(split.split, np.zeros(0, np.int64)), grouped)
    use_groups = grouped and split.groups is not None
    units = _group_order(split, positions, np.random.default_rng(seed), use_groups)
    n_used = min(n, _largest_balanced(units, min(n, len(positions) // 2)))
    member_pos, nonmember_pos = _deal(units, [n_used, n_used])  # type: ignore[misc]
    description["same_split"] = True
    description["usable"] = {split.split: int(len(positions))}
    description["usable"].update({f"{split.split}_{k}": v for k, v in left_out.items()})
    if use_groups and np.intersect1d(split.groups[member_pos], split.groups[nonmember_pos]).size:
        raise DatasetError(f"{split.dataset}/{split.split}: a group straddles members and non-members (a bug)")
    return member_pos, nonmember_pos


def _draw_from_two_splits(
    members_from: ArraySplit,
    nonmembers_from: ArraySplit,
    n: int,
    excluded: dict[str, np.ndarray],
    grouped: bool,
    seeds: Sequence[np.random.SeedSequence],
    description: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """As many members as non-members (at most n), each drawn without replacement from its own split."""
    chosen = []
    usable = {}
    for part, part_seed in ((members_from, seeds[0]), (nonmembers_from, seeds[1])):
        use_groups = grouped and part.groups is not None
        positions, left_out = _usable(part, excluded.get(part.split, np.zeros(0, np.int64)), use_groups)
        usable[part.split] = int(len(positions))
        usable.update({f"{part.split}_{k}": v for k, v in left_out.items()})
        chosen.append((positions, np.random.default_rng(part_seed)))
    n_used = min(n, len(chosen[0][0]), len(chosen[1][0]))
    member_pos, nonmember_pos = (np.sort(rng.choice(pos, size=n_used, replace=False)) for pos, rng in chosen)
    description["same_split"] = False
    description["usable"] = usable
    return member_pos, nonmember_pos
