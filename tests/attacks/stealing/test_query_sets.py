"""Query sets: where the attacker's images and the evaluation images come from, converted, and kept apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.attacks import AttackError, get_attack
from securitynet.attacks.stealing.query_sets import (
    check_disjoint,
    convert_images,
    resolve_query_sets,
)
from securitynet.catalog.card import InputSpec
from securitynet.data import ArraySplit
from securitynet.errors import DatasetError

from .conftest import digits_card


def test_in_distribution_queries_the_training_split_and_evaluates_on_the_held_out_one() -> None:
    sets = resolve_query_sets(digits_card(), "in-distribution", seed=0)
    assert (sets.pool.dataset, sets.pool.split) == ("digits", "train")
    assert (sets.evaluation.dataset, sets.evaluation.split) == ("digits", "test")
    assert len(sets.pool) == 898 and len(sets.evaluation) == 899
    assert sets.description["query_split_reason"].startswith("the target's training split")
    taken = sets.take(np.array([5, 1, 3]))
    assert taken.indices.tolist() == sets.pool.indices[[5, 1, 3]].tolist()  # query order is kept


def test_evaluation_subset_is_seeded_and_independent_of_the_query_set_kind() -> None:
    a = resolve_query_sets(digits_card(), "in-distribution", seed=3, eval_size=100)
    b = resolve_query_sets(digits_card(), "in-distribution", seed=3, eval_size=100)
    c = resolve_query_sets(digits_card(), "in-distribution", seed=4, eval_size=100)
    assert len(a.evaluation) == 100
    assert a.evaluation.indices.tolist() == b.evaluation.indices.tolist()
    assert a.evaluation.indices.tolist() != c.evaluation.indices.tolist()


def test_a_single_split_is_carved_into_disjoint_queries_and_evaluation() -> None:
    sets = resolve_query_sets(digits_card(), "in-distribution", seed=0, query_split="test", eval_size=300)
    assert sets.pool.split == sets.evaluation.split == "test"
    assert len(sets.evaluation) == 300 and len(sets.pool) == 899 - 300
    assert not np.intersect1d(sets.pool.indices, sets.evaluation.indices).size
    assert sets.description["carved"] is True
    with pytest.raises(DatasetError, match="cannot hold out 899"):
        resolve_query_sets(digits_card(), "in-distribution", seed=0, query_split="test", eval_size=899)


def test_check_disjoint_refuses_shared_images_and_shared_groups() -> None:
    images = np.zeros((4, 8, 8), np.uint8)

    def split(indices: list[int], groups: list[int] | None = None, name: str = "test") -> ArraySplit:
        return ArraySplit(images=images[: len(indices)], labels=np.zeros(len(indices), np.int64), dataset="digits",
                          split=name, indices=np.array(indices), groups=None if groups is None else np.array(groups))

    check_disjoint(split([0, 1]), split([2, 3]))
    check_disjoint(split([0, 1]), split([0, 1], name="train"))  # other split: other images
    with pytest.raises(DatasetError, match="1 shared indices"):
        check_disjoint(split([0, 1]), split([1, 2]))
    with pytest.raises(DatasetError, match="near-duplicate groups"):
        check_disjoint(split([0, 1], [7, 8]), split([2, 3], [8, 9]))


def test_conversion_to_the_target_input() -> None:
    colour = np.zeros((2, 32, 32, 3), np.uint8)
    colour[..., 0] = 200  # pure red: luma 0.299 * 200
    grey = convert_images(colour, InputSpec(channels=1, size=(28, 28)))
    assert grey.shape == (2, 28, 28) and grey.dtype == np.uint8
    assert np.all(grey == round(0.299 * 200))
    digits = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8)
    rgb = convert_images(digits, InputSpec(channels=3, size=(16, 16)))
    assert rgb.shape == (2, 16, 16, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    same = np.ones((3, 8, 8), np.uint8)
    assert convert_images(same, InputSpec(channels=1, size=(8, 8))) is same
    with pytest.raises(DatasetError, match="volumes"):
        convert_images(same, InputSpec(channels=1, size=(8, 8, 8)))


def test_out_of_distribution_gtsrb_images_become_grey_digits(shared_data: Path) -> None:
    sets = resolve_query_sets(digits_card(), "out-of-distribution", seed=0)
    assert (sets.pool.dataset, sets.pool.split) == ("gtsrb", "train")
    assert (sets.evaluation.dataset, sets.evaluation.split) == ("digits", "test")
    taken = sets.take(np.arange(10))
    assert taken.images.shape == (10, 8, 8) and taken.images.dtype == np.uint8
    assert taken.dataset == "gtsrb" and "converted to 1 channel(s) at 8x8" in taken.source


def test_query_set_mistakes_get_one_clear_error() -> None:
    card = digits_card()
    with pytest.raises(AttackError, match="in-distribution query set comes from the target's dataset"):
        resolve_query_sets(card, "in-distribution", seed=0, query_dataset="mnist")
    with pytest.raises(AttackError, match="is the target's own dataset"):
        resolve_query_sets(card, "out-of-distribution", seed=0, query_dataset="digits")
    with pytest.raises(AttackError, match="no default out-of-distribution query set for breastmnist"):
        resolve_query_sets(digits_card(dataset="breastmnist", num_classes=2), "out-of-distribution", seed=0)
    with pytest.raises(DatasetError, match="unknown dataset|no dataset"):
        resolve_query_sets(card, "out-of-distribution", seed=0, query_dataset="no-such-dataset")
    with pytest.raises(AttackError, match="holds volumes"):
        resolve_query_sets(card, "out-of-distribution", seed=0, query_dataset="adrenalmnist3d")
    with pytest.raises(DatasetError, match="no split 'val'"):
        resolve_query_sets(card, "in-distribution", seed=0, query_split="val")


def test_parameters_accept_the_shorthand_and_normalise_the_curve() -> None:
    attack = get_attack("stealing.knockoff")
    params = attack({"query_set": "out-of-distribution:gtsrb", "curve": [0.5, 0.1, 0.5]}).params_dict()
    assert params["query_set"] == "out-of-distribution" and params["query_dataset"] == "gtsrb"
    assert params["curve"] == [0.1, 0.5, 1.0]
    with pytest.raises(AttackError, match="query_dataset"):
        attack({"query_set": "out-of-distribution:gtsrb", "query_dataset": "mnist"})
    with pytest.raises(AttackError, match="curve"):
        attack({"curve": [0.0, 1.0]})
    with pytest.raises(AttackError, match="surrogate"):
        attack({"surrogate": "resnet"})
