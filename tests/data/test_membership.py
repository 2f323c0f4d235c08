"""Member / non-member sampling and disjoint pools: balanced, seeded, exclusions honoured, reductions recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.data import ArraySplit, DatasetError, disjoint_subsets, load_split, sample_membership


def _toy(n: int, groups: np.ndarray | None = None) -> ArraySplit:
    return ArraySplit(np.zeros((n, 2, 2), np.uint8), np.arange(n) % 2, "toy", "train", np.arange(n), groups)


def test_balanced_members_from_training_and_non_members_from_held_out(shared_data: Path) -> None:
    sample = sample_membership("breastmnist", 100, seed=0, roots=[shared_data])
    assert (sample.members.split, sample.nonmembers.split) == ("train", "test")
    assert len(sample.members) == len(sample.nonmembers) == sample.n == 100
    train = load_split("breastmnist", "train", roots=[shared_data])
    np.testing.assert_array_equal(sample.members.images, train.images[sample.members.indices])
    assert len(np.unique(sample.members.indices)) == 100
    d = sample.description
    assert d["seed"] == 0 and d["n"] == 100 and d["member_fingerprint"] == sample.members.fingerprint()
    images, labels, is_member = sample.combined()
    assert images.shape[0] == labels.shape[0] == 200 and is_member.sum() == 100


def test_same_seed_same_sets_different_seed_different_sets(shared_data: Path) -> None:
    a = sample_membership("breastmnist", 50, seed=7, roots=[shared_data])
    b = sample_membership("breastmnist", 50, seed=7, roots=[shared_data])
    c = sample_membership("breastmnist", 50, seed=8, roots=[shared_data])
    np.testing.assert_array_equal(a.members.indices, b.members.indices)
    np.testing.assert_array_equal(a.nonmembers.indices, b.nonmembers.indices)
    assert not np.array_equal(a.members.indices, c.members.indices)
    assert not np.array_equal(a.nonmembers.indices, c.nonmembers.indices)


def test_n_is_reduced_to_the_smaller_split_and_recorded(shared_data: Path) -> None:
    sample = sample_membership("breastmnist", 1_000, seed=0, roots=[shared_data])
    assert len(sample.members) == len(sample.nonmembers) == 156  # the test split has 156 images
    assert sample.description["n_requested"] == 1_000 and sample.description["n"] == 156
    assert "asked for 1000" in sample.description["n_reduced_because"]


def test_excluded_indices_are_never_drawn(shared_data: Path) -> None:
    blocked_train, blocked_test = np.arange(0, 546, 2), np.arange(100)
    sample = sample_membership("breastmnist", 200, seed=1, exclude={"train": blocked_train, "test": blocked_test},
                               roots=[shared_data])
    assert not set(sample.members.indices) & set(blocked_train)
    assert not set(sample.nonmembers.indices) & set(blocked_test)
    assert len(sample.members) == 56  # 156 - 100 test images remain
    assert sample.description["exclude_counts"] == {"train": 273, "test": 100}
    # ArraySplits (e.g. an attacker's query set) can be passed directly.
    queries = load_split("breastmnist", "test", roots=[shared_data]).subset(np.arange(50, 156))
    other = sample_membership("breastmnist", 40, seed=1, exclude=[queries], roots=[shared_data])
    assert other.nonmembers.indices.max() < 50


def test_mnist_members_default_to_the_training_split_present(shared_data: Path) -> None:
    sample = sample_membership("mnist", 300, seed=0, roots=[shared_data])
    assert sample.members.split == "train_subset_5k" and sample.nonmembers.split == "test"
    assert "'train' is absent" in sample.description["member_split_reason"]


def test_digits_same_split_sampling() -> None:
    sample = sample_membership("digits", 500, seed=2, member_split="train", nonmember_split="train")
    assert len(sample.members) == len(sample.nonmembers) == 449  # 898 // 2
    assert not set(sample.members.indices) & set(sample.nonmembers.indices)
    assert sample.description["same_split"] is True


def test_disjoint_subsets_exact_sizes_seeded_and_exclusive() -> None:
    toy = _toy(100)
    a, b, rest = disjoint_subsets(toy, [30, 20, None], seed=4)
    assert (len(a), len(b), len(rest)) == (30, 20, 50)
    assert len(set(a.indices) | set(b.indices) | set(rest.indices)) == 100
    again = disjoint_subsets(toy, [30, 20, None], seed=4)
    np.testing.assert_array_equal(again[0].indices, a.indices)
    assert not np.array_equal(disjoint_subsets(toy, [30], seed=5)[0].indices, a.indices)
    kept = disjoint_subsets(toy, [None], seed=0, exclude={"train": np.arange(90)})[0]
    assert sorted(kept.indices) == list(range(90, 100))


def test_disjoint_subsets_by_group_cut_groups_are_not_reused() -> None:
    groups = np.repeat(np.arange(10), 5)  # ten groups of five
    a, b = disjoint_subsets(_toy(50, groups), [12, 12], seed=0)
    assert len(a) == len(b) == 12
    assert not set(a.groups) & set(b.groups)
    with pytest.raises(DatasetError, match="cannot carve"):
        disjoint_subsets(_toy(50, groups), [30, 30], seed=0)


def test_bad_arguments_are_refused(shared_data: Path) -> None:
    with pytest.raises(DatasetError, match="positive integer"):
        sample_membership("breastmnist", 0, seed=0, roots=[shared_data])
    with pytest.raises(DatasetError, match="has no split 'nope'"):
        sample_membership("breastmnist", 5, seed=0, member_split="nope", roots=[shared_data])
    with pytest.raises(DatasetError, match="only the last size"):
        disjoint_subsets(_toy(10), [None, 3], seed=0)
    with pytest.raises(DatasetError, match="has no member split"):
        sample_membership("samples_mnist", 5, seed=0, roots=[shared_data])


def test_exclude_with_an_unknown_split_is_refused(shared_data: Path) -> None:
    with pytest.raises(DatasetError, match=r"exclude names split\(s\) \['tset'\]"):
        sample_membership("breastmnist", 5, seed=0, exclude={"tset": [1, 2]}, roots=[shared_data])


def test_query_sets_of_another_dataset_exclude_nothing(shared_data: Path) -> None:
    foreign = load_split("retinamnist", "train", roots=[shared_data])  # same split name, other dataset
    sample = sample_membership("breastmnist", 546, seed=0, member_split="train", nonmember_split="train",
                               exclude=[foreign], roots=[shared_data])
    assert sample.description["exclude_counts"] == {}
    assert len(sample.members) == 273
