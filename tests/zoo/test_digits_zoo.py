"""The self-trained digits zoo: cards that load like public ones, a wide spread of overfitting, idempotence."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

import securitynet
from securitynet.catalog.builtin import find_card
from securitynet.errors import ChecksumError, TrainingError
from securitynet.zoo import selftrained
from securitynet.zoo.digits_zoo import SMALL_ZOO, build_digits_zoo, measure_gaps, zoo_recipes
from securitynet.zoo.loader import load_target
from securitynet.zoo.selftrained import recipe_from_card, training_examples, weight_path
from securitynet.zoo.weights import sha256_file


def _weight_file(card) -> Path:
    return Path(unquote(urlparse(card.weights.urls[0]).path))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("selftrained-home")
        patch.setenv("SECURITYNET_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def zoo_store(home, tmp_path_factory: pytest.TempPathFactory):
    from securitynet.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('db') / 'zoo.sqlite'}")
    runs_before = selftrained.TRAINING_RUNS["count"]
    cards = build_digits_zoo(store, size="small", seed=0, progress=False, device="cpu")
    assert selftrained.TRAINING_RUNS["count"] - runs_before == len(SMALL_ZOO)
    return store, cards


def test_cards_describe_self_trained_models_with_their_recipe(zoo_store, home):
    store, cards = zoo_store
    assert [c.id for c in cards] == [
        "selftrained/digits/mlp-n898-e2-s0",
        "selftrained/digits/mlp-n60-e300-s0",
        "selftrained/digits/small_cnn-n898-e3-s0",
    ]
    for card in cards:
        assert card.purpose == "self-trained" and card.source == "self-trained"
        assert card.dataset == "digits" and card.num_classes == 10 and card.training_split == "train"
        path = _weight_file(card)
        assert card.weights.urls[0].startswith("file://") and path.name == card.weights.filename
        assert path.is_relative_to(home / "models") and path.suffix == ".safetensors"
        assert card.weights.sha256 == sha256_file(path) and card.weights.format == "safetensors"
        recipe = recipe_from_card(card)
        assert recipe.hash() == card.extra["recipe_hash"] and recipe.card_id == card.id
        assert card.extra["recipe"]["train"]["seed"] == 0 and card.extra["recipe"]["train"]["weight_decay"] == 0.0
        assert card.extra["training_report"]["steps"] > 0
        assert store.get_card(card.id) == card
        assert find_card(card.id, store) == card
    full, subset = cards[0], cards[1]
    assert full.train_size == 898 and full.training_indices is None
    assert subset.train_size == 60 and len(subset.training_indices) == 60
    members = training_examples(subset)
    assert np.array_equal(members.indices, subset.training_indices)
    assert np.bincount(members.labels, minlength=10).tolist() == [6] * 10  # class-stratified


def test_cards_load_through_the_loader_with_verified_weights(zoo_store):
    _, cards = zoo_store
    from securitynet.data import load_split

    test = load_split("digits", "test")
    for card in cards:
        target = load_target(card, device="cpu")
        assert target.weight_hash == f"sha256:{card.weights.sha256}"
        probs = target.predict_proba(test.images[:50])
        assert probs.shape == (50, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    again = securitynet.load(cards[1], device="cpu")
    assert np.array_equal(again.predict(test.images), load_target(cards[1], device="cpu").predict(test.images))
    wrong = cards[0].model_copy(update={"weights": cards[0].weights.model_copy(update={"sha256": "0" * 64})})
    with pytest.raises(ChecksumError):
        load_target(wrong, device="cpu")


def test_overfitting_gap_spreads_widely(zoo_store):
    _, cards = zoo_store
    rows = measure_gaps(cards, device="cpu")
    gaps = {row.model_id: row.overfit_gap for row in rows}
    assert max(gaps.values()) - min(gaps.values()) > 0.08, gaps
    # Few epochs on the whole split barely overfit; 300 epochs on 60 images overfit a lot.
    assert gaps["selftrained/digits/mlp-n60-e300-s0"] > gaps["selftrained/digits/mlp-n898-e2-s0"] + 0.05
    assert all(0.5 < row.test_accuracy <= 1.0 and 0.5 < row.train_accuracy <= 1.0 for row in rows)


def test_rebuilding_reuses_verified_weights_without_training(zoo_store):
    store, cards = zoo_store
    mtimes = {c.id: _weight_file(c).stat().st_mtime_ns for c in cards}
    runs_before = selftrained.TRAINING_RUNS["count"]
    again = build_digits_zoo(store, size="small", seed=0, progress=True, device="cpu")
    assert selftrained.TRAINING_RUNS["count"] == runs_before
    assert [c.fingerprint() for c in again] == [c.fingerprint() for c in cards]
    assert {c.id: _weight_file(c).stat().st_mtime_ns for c in again} == mtimes
    leftovers = [p.name for c in cards for p in _weight_file(c).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_tampered_weight_file_is_retrained_to_the_same_bytes(home):
    from securitynet.data import load_split

    data = load_split("digits", "train")
    recipe = zoo_recipes(len(data), size="small", seed=3)[0]
    first = selftrained.train_selftrained(recipe, data=data, device="cpu")
    path = _weight_file(first.card)
    original = path.read_bytes()
    path.write_bytes(original[:-8] + b"tampered")  # same size, other bytes
    second = selftrained.train_selftrained(recipe, data=data, device="cpu")
    assert first.trained and second.trained  # the mismatch was noticed, so it trained again
    assert path.read_bytes() == original  # and training is deterministic on CPU, down to the bytes
    assert second.card.weights.sha256 == first.card.weights.sha256
    other_seed = selftrained.train_selftrained(zoo_recipes(len(data), size="small", seed=4)[0], data=data)
    assert other_seed.card.weights.sha256 != first.card.weights.sha256
    assert other_seed.card.id.endswith("-s4")


def test_a_missing_card_file_means_retraining(home):
    from securitynet.data import load_split

    data = load_split("digits", "train")
    recipe = zoo_recipes(len(data), size="small", seed=5)[0]
    first = selftrained.train_selftrained(recipe, data=data, device="cpu")
    card_file = selftrained._card_path(weight_path(recipe))
    assert card_file.is_file()
    os.remove(card_file)  # as if the process died between the weights and the card
    again = selftrained.train_selftrained(recipe, data=data, device="cpu")
    assert again.trained and card_file.is_file()
    reused = selftrained.train_selftrained(recipe, data=data, device="cpu")
    assert not reused.trained and reused.card == again.card
    assert first.card.weights.sha256 == again.card.weights.sha256


def test_recipe_and_data_mismatches_are_refused(home):
    from securitynet.data import load_split

    test = load_split("digits", "test")
    recipe = zoo_recipes(898, size="small", seed=0)[0]
    with pytest.raises(TrainingError, match="digits/test"):
        selftrained.train_selftrained(recipe, data=test)
    with pytest.raises(TrainingError, match="size must be one of"):
        zoo_recipes(898, size="huge")  # type: ignore[arg-type]
    too_big = selftrained.SelfTrainedRecipe(**{**recipe.__dict__, "train_size": 5000})
    with pytest.raises(TrainingError, match="train_size 5000"):
        selftrained.train_selftrained(too_big)


def test_recipe_round_trips_and_hash_ignores_names():
    recipe = zoo_recipes(898, size="full", seed=0)[0]
    again = selftrained.SelfTrainedRecipe.from_dict(recipe.to_dict())
    assert again.hash() == recipe.hash()
    renamed = selftrained.SelfTrainedRecipe(**{**recipe.__dict__, "card_id": "selftrained/digits/other"})
    assert renamed.hash() == recipe.hash()
    longer = selftrained.SelfTrainedRecipe(**{**recipe.__dict__, "train": recipe.train.replace(epochs=99)})
    assert longer.hash() != recipe.hash()
    with pytest.raises(TrainingError, match="malformed"):
        selftrained.SelfTrainedRecipe.from_dict({"card_id": "x/y"})


def test_full_zoo_spans_architectures_sizes_and_lengths():
    recipes = zoo_recipes(898, size="full", seed=0)
    assert {r.architecture for r in recipes} == {"mlp", "small_cnn", "lenet", "wrn"}
    assert {r.train_size for r in recipes} == {None, 200, 60}
    assert len({r.card_id for r in recipes}) == len(recipes)
    assert len({r.hash() for r in recipes}) == len(recipes)


def test_shadow_models_train_like_a_zoo_card_on_other_data(zoo_store):
    from securitynet.data import load_split

    _, cards = zoo_store
    target_card = cards[1]  # the overfitted MLP on 60 images
    test = load_split("digits", "test")
    population = test.subset(np.arange(0, 64))  # attacker data, disjoint from the target's members
    shadow, report = selftrained.train_like(
        target_card, population.images, population.labels, seed=1, device="cpu"
    )
    assert shadow.card.id == f"{target_card.id}--shadow-s1" and shadow.card.weights.urls == []
    assert shadow.card.extra["trained_like"] == target_card.id and shadow.card.train_size == 64
    assert shadow.card.extra["recipe"]["train"]["epochs"] == 300 and shadow.card.extra["recipe"]["train"]["seed"] == 1
    assert report.steps == 300 * 2  # 64 images in batches of 32, the recipe's 300 epochs
    held_out = test.subset(np.arange(64, 899))
    assert np.mean(shadow.predict(held_out.images) == held_out.labels) > 0.7
    twin, _ = selftrained.train_like(target_card, population.images, population.labels, seed=1, device="cpu")
    other, _ = selftrained.train_like(target_card, population.images, population.labels, seed=2, device="cpu")
    probe = held_out.images[:100]
    assert np.array_equal(twin.predict_proba(probe), shadow.predict_proba(probe))
    assert not np.array_equal(other.predict_proba(probe), shadow.predict_proba(probe))
