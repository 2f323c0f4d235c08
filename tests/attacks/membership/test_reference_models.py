"""Evaluation sets, the attacker population and the cached shadow/reference models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.attacks.membership.params import ReferenceParams, offline_set, online_set, sets_for
from securitynet.attacks.membership.reference_choice import reference_spec
from securitynet.attacks.membership.sets import split_known
from securitynet.catalog.builtin import find_card
from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.engine.cache import PosteriorCache
from securitynet.engine.context import JobContext
from securitynet.zoo.loader import build_module
from securitynet.zoo.macs import multiply_accumulates
from securitynet.zoo.reference_spec import DEFAULT_RECIPE
from securitynet.zoo.selftrained import SelfTrainedRecipe, train_selftrained
from securitynet.zoo.train import TrainRecipe


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    """Private home (self-trained weights) and cache (reference models, posteriors) for this module."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("mia-refs")
        patch.setenv("SECURITYNET_HOME", str(root / "home"))
        patch.setenv("SECURITYNET_CACHE", str(root / "cache"))
        yield root


def _subset_model(seed: int, train_size: int = 60, epochs: int = 3) -> ModelCard:
    recipe = SelfTrainedRecipe(
        card_id=f"selftrained/digits/test-mlp-n{train_size}-s{seed}", dataset="digits", architecture="mlp",
        arch_kwargs={"in_channels": 1, "input_size": 8, "hidden": [32]},
        train=TrainRecipe(epochs=epochs, optimizer="adam", lr=1e-2, weight_decay=0.0, batch_size=32, seed=seed),
        train_size=train_size, subset_seed=seed, input_spec=InputSpec(channels=1, size=(8, 8)), num_classes=10,
    )
    return train_selftrained(recipe, device="cpu").card


def _ctx(card: ModelCard, root: Path, seed: int = 0) -> JobContext:
    return JobContext.standalone(card, seed=seed, access="posterior", device="cpu",
                                 cache=PosteriorCache(root / "posteriors"), artifacts_root=root / "artifacts")


def test_reference_architecture_follows_the_target_or_a_documented_fallback(env) -> None:
    subset = _subset_model(0)
    spec = reference_spec(subset)
    assert (spec.architecture, spec.arch_kwargs["hidden"]) == ("mlp", [32])
    assert spec.recipe.epochs == 3 and spec.target_train_size == 60 and "self-trained" in spec.origin
    assert reference_spec(subset, epochs=7).recipe.epochs == 7

    cards = {i: find_card(i) for i in ("file/lenet5_advertorch_clean", "file/badnet_verazuo_mnist")}
    lenet = reference_spec(cards["file/lenet5_advertorch_clean"])
    assert lenet.architecture == "lenet5_advertorch" and lenet.recipe == DEFAULT_RECIPE
    assert lenet.input_spec == cards["file/lenet5_advertorch_clean"].input and "recipe is unknown" in lenet.origin
    # a softmax inside the model: the trainer needs logits, so the fallback is used, and says why
    badnet = reference_spec(cards["file/badnet_verazuo_mnist"])
    assert badnet.architecture == "small_cnn" and badnet.arch_kwargs == {"in_channels": 1, "input_size": 28}
    assert "outputs probabilities" in badnet.origin
    over_budget = reference_spec(cards["file/lenet5_advertorch_clean"], max_params=1000, fallback="wrn")
    assert over_budget.architecture == "wrn" and "fallback" in over_budget.origin
    # ResNet-20 is small in parameters but costs 41M multiply-accumulates per image: too slow to train N
    # of on a CPU by default, its own architecture once the budget allows it (e.g. on a GPU)
    resnet = find_card("pytorchcv/resnet20_cifar10")
    assert reference_spec(resnet).architecture == "small_cnn"
    assert multiply_accumulates(build_module(resnet), resnet.input) == 40_813_184
    assert reference_spec(resnet, max_macs=50_000_000).architecture == "pytorchcv:resnet20_cifar10"
    unknown = ModelCard(id="x/unknown", name="u", source="file", architecture="no_such_arch", dataset="cifar10",
                        num_classes=10, input=InputSpec(channels=3, size=(224, 224)))
    cifar = reference_spec(unknown)
    assert cifar.architecture == "small_cnn" and cifar.input_spec.size == (32, 32) and cifar.input_spec.channels == 3
    volume = ModelCard(id="x/volume", name="v", source="file", dataset="adrenalmnist3d", num_classes=2)
    spec3d = reference_spec(volume)
    assert spec3d.architecture == "mlp" and spec3d.input_spec.size == (28, 28, 28)


def test_evaluation_sets_respect_training_indices_and_keep_the_population_out(env) -> None:
    card = _subset_model(1)
    ctx = _ctx(card, env)
    sets = sets_for(ctx, ReferenceParams(n=100))
    assert sets.n == 60  # the model saw 60 images: no more members exist
    assert set(sets.members.indices) <= set(card.training_indices)
    assert sets.members.split == "train" and sets.nonmembers.split == sets.population.split == "test"
    assert not set(sets.nonmembers.indices) & set(sets.population.indices)
    recorded = ctx.notes["attacker_population"]
    assert recorded["indices"] == sets.population.indices.tolist() and recorded["fraction"] == 0.5
    (used,) = ctx.data_used
    assert used["member_indices"] == sets.members.indices.tolist()
    # the population depends on the dataset and seed only: another target of digits gets the same one
    other = sets_for(_ctx(_subset_model(2), env), ReferenceParams(n=100))
    np.testing.assert_array_equal(other.population.indices, sets.population.indices)
    assert set(other.members.indices) != set(sets.members.indices)
    # a known fraction for the partial threat model, disjoint from what is evaluated
    known, evaluated = split_known(ctx, sets, 0.25)
    assert len(known.members) == len(known.nonmembers) == 15 and evaluated.n == 45
    assert not set(known.members.indices) & set(evaluated.members.indices)
    assert ctx.notes["known_to_attacker"]["member_indices"] == known.members.indices.tolist()


def test_offline_references_are_cached_and_reused_across_targets(env) -> None:
    first_target, second_target = _subset_model(3), _subset_model(4)
    params = ReferenceParams(n=60)
    ctx = _ctx(first_target, env)
    sets = sets_for(ctx, params)
    first = offline_set(ctx, params, sets, 3)
    assert [m.trained_now for m in first.models] == [True] * 3
    inside = first.trained_on(sets.population)
    assert (inside.sum(axis=1) == 60).all()  # the target's training-set size (below half the population)
    assert not first.trained_on(sets.members).any() and not first.trained_on(sets.nonmembers).any()
    assert len({m.target.weight_hash for m in first.models}) == 3
    # a second target with the same architecture and recipe (another subset seed): the same files
    ctx2 = _ctx(second_target, env)
    again = offline_set(ctx2, params, sets_for(ctx2, params), 4)
    assert [m.trained_now for m in again.models] == [False, False, False, True]
    assert [m.key for m in again.models[:3]] == [m.key for m in first.models]
    probs = ctx2.posteriors(again.models[0].target, sets.population)
    np.testing.assert_array_equal(probs, ctx.posteriors(first.models[0].target, sets.population))
    assert ctx2.notes["reference_models"]["models"][0]["weight_hash"] == first.models[0].target.weight_hash
    # another recipe is another model; a damaged file is retrained, never trusted
    longer = offline_set(ctx2, params.model_copy(update={"reference_epochs": 4}), sets, 1)
    assert longer.models[0].key != first.models[0].key and longer.models[0].trained_now
    first.models[1].path.write_bytes(b"not weights")
    repaired = offline_set(ctx, params, sets, 2)
    assert [m.trained_now for m in repaired.models] == [False, True]
    assert repaired.models[1].target.weight_hash == first.models[1].target.weight_hash  # deterministic on CPU


def test_online_references_put_every_candidate_in_half_of_the_models(env) -> None:
    card = _subset_model(5)
    params = ReferenceParams(n=60)
    ctx = _ctx(card, env)
    sets = sets_for(ctx, params)
    online = online_set(ctx, params, sets, 4)
    candidates_in = np.concatenate([online.trained_on(sets.members), online.trained_on(sets.nonmembers)], axis=1)
    assert (candidates_in.sum(axis=0) == 2).all()
    sizes = [sum(len(v) for v in m.trained_on.values()) for m in online.models]
    # half of the 120 candidates on average, and no population filler: the target saw 60 images
    assert abs(np.mean(sizes) - 60) <= 1 and not online.trained_on(sets.population).any()
    assert ctx.notes["reference_models"]["kind"] == "online"
