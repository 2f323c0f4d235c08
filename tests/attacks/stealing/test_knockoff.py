"""stealing.knockoff end to end on a small digits target (seconds), outside and inside the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from securitynet.attacks import AccessError, get_attack
from securitynet.attacks.stealing import stealing_quickstart_attacks
from securitynet.catalog.card import InputSpec
from securitynet.catalog.sources.published import PUBLISHED_COLUMNS

from .conftest import digits_card

FAST = {"budget": 400, "curve": [0.25, 1.0], "epochs": 10, "min_steps": 100}


def test_stealing_a_digits_model_reports_metrics_curve_and_indices(digits_target, run_knockoff) -> None:
    result, ctx, view = run_knockoff(digits_target, FAST)
    m = result.metrics
    assert m["queries"] == 400
    assert m["agreement"] > 0.85 and m["accuracy"] > 0.8
    assert m["agreement_at_400"] == m["agreement"] and m["accuracy_at_400"] == m["accuracy"]
    assert m["agreement_at_100"] < m["agreement"]
    assert 0.85 < m["target_accuracy"] <= 1
    # The target answered the queries and labelled the evaluation images, nothing else.
    assert view.queries == 400 + 899

    curve = json.loads(Path(result.artifacts["budget_curve"]["path"]).read_text())
    assert [p["queries"] for p in curve["points"]] == [100, 400]
    assert curve["points"][-1]["agreement"] == m["agreement"]
    assert curve["points"][0]["train_steps"] == 100  # min_steps for the small budget
    saved = np.load(result.artifacts["queries"]["path"])
    queried, evaluated = saved["query_indices"], saved["evaluation_indices"]
    assert len(queried) == 400 == len(np.unique(queried)) and len(evaluated) == 899
    assert ctx.notes["query_set"]["query_split"] == "train" and ctx.notes["evaluation_set"]["split"] == "test"
    assert ctx.notes["query_set"]["indices"] == queried.tolist()


def test_posterior_and_label_runs_query_the_same_images(digits_target, run_knockoff) -> None:
    _, p_ctx, _ = run_knockoff(digits_target, {**FAST, "curve": [1.0]}, key="p")
    _, l_ctx, _ = run_knockoff(digits_target, {**FAST, "answer": "label", "curve": [1.0]}, key="l")
    assert p_ctx.notes["query_set"]["indices"] == l_ctx.notes["query_set"]["indices"]
    other_seed, o_ctx, _ = run_knockoff(digits_target, {**FAST, "answer": "label", "curve": [1.0]}, seed=1, key="o")
    assert o_ctx.notes["query_set"]["indices"] != l_ctx.notes["query_set"]["indices"]


def test_label_answers_need_only_label_access(digits_target, run_knockoff) -> None:
    result, _, view = run_knockoff(digits_target, {**FAST, "answer": "label", "curve": [1.0]}, access="label")
    assert result.metrics["agreement"] > 0.8
    with pytest.raises(AccessError):
        run_knockoff(digits_target, {**FAST, "curve": [1.0]}, access="label", key="denied")


def test_a_budget_above_the_pool_queries_every_image_once(digits_target, run_knockoff) -> None:
    result, ctx, _ = run_knockoff(digits_target, {**FAST, "budget": 5000, "curve": [1.0], "epochs": 2})
    assert result.metrics["queries"] == 898
    assert "only 898 images" in ctx.notes["query_set"]["budget_capped"]


def test_adaptive_sampling_spends_the_budget_and_records_its_policy(digits_target, run_knockoff) -> None:
    params = {**FAST, "sampling": "adaptive", "adaptive_round": 100, "adaptive_steps": 5, "curve": [1.0]}
    result, ctx, view = run_knockoff(digits_target, params)
    assert result.metrics["queries"] == 400 and result.metrics["agreement"] > 0.5  # far above chance (0.1)
    assert view.queries == 400 + 899
    policy = np.load(result.artifacts["adaptive_policy"]["path"])
    assert policy["policy"].shape == (4, 10)  # four rounds over the ten digit classes
    assert np.allclose(policy["policy"].sum(axis=1), 1)
    assert len(set(ctx.notes["query_set"]["indices"])) == 400


def test_applicable_says_why_a_model_is_skipped() -> None:
    attack = get_attack("stealing.knockoff")
    assert attack(FAST).applicable(digits_card()) is None
    assert "names no architecture" in attack(FAST).applicable(digits_card(architecture=None))
    assert "input spec" in attack(FAST).applicable(digits_card(input=None))
    volume = digits_card(input=InputSpec(channels=1, size=(28, 28, 28)))
    assert "volumes" in attack({"surrogate": "wrn"}).applicable(volume)
    assert "multi-label" in attack(FAST).applicable(digits_card(dataset="chestmnist", num_classes=14))
    ood = attack({"query_set": "out-of-distribution"})
    assert "set query_dataset" in ood.applicable(digits_card(dataset="breastmnist", num_classes=2))


def test_published_columns_name_parameters_this_attack_takes() -> None:
    attack = get_attack("stealing.knockoff")
    stealing = {c: s for c, s in PUBLISHED_COLUMNS.items() if s.attack == attack.name}
    assert len(stealing) == 6
    for spec in stealing.values():
        params = attack(dict(spec.params)).params_dict()
        assert all(params[k] == v for k, v in spec.params.items())
        assert spec.metric in ("accuracy", "agreement")


def test_quickstart_pairs_are_valid_in_and_out_of_distribution_runs() -> None:
    pairs = stealing_quickstart_attacks()
    kinds = set()
    for name, params in pairs:
        parsed = get_attack(name)(params).params_dict()
        kinds.add(parsed["query_set"])
        assert parsed["budget"] <= 1000
    assert kinds == {"in-distribution", "out-of-distribution"}


def test_temperature_softens_posteriors_as_distillation_does() -> None:
    from securitynet.attacks.stealing.knockoff import soften

    logits = np.array([[8.0, 1.0, -2.0], [0.5, 0.4, 3.0]])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    softened = soften(probs, 4.0)
    expected = np.exp(logits / 4) / np.exp(logits / 4).sum(axis=1, keepdims=True)
    assert np.allclose(softened, expected)
    assert np.array_equal(softened.argmax(axis=1), probs.argmax(axis=1))
    assert soften(probs, 1.0) is probs


def test_smoothing_mixes_answers_with_the_uniform_distribution() -> None:
    import torch
    import torch.nn.functional as F

    from securitynet.attacks.stealing.knockoff import _targets, one_hot

    probs = np.array([[0.97, 0.02, 0.01], [0.1, 0.3, 0.6]])
    smoothed = _targets(probs, "posterior", 1.0, 0.1)["soft_labels"]
    assert np.allclose(smoothed, 0.9 * probs + 0.1 / 3) and np.allclose(smoothed.sum(axis=1), 1)
    assert np.allclose(_targets(probs, "posterior", 1.0, 0.0)["soft_labels"], probs)
    # A label answer is a one-hot row: smoothed, it is label smoothing, with cross-entropy's very gradient.
    labels = _targets(one_hot(np.array([0, 2]), 3), "label", 4.0, 0.1)["soft_labels"]
    assert np.allclose(labels, [[0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3], [0.1 / 3, 0.1 / 3, 0.9 + 0.1 / 3]])
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], requires_grad=True)
    kl = F.kl_div(F.log_softmax(logits, dim=1), torch.from_numpy(labels), reduction="batchmean")
    (kl_grad,) = torch.autograd.grad(kl, logits)
    ce = F.cross_entropy(logits, torch.tensor([0, 2]), label_smoothing=0.1)
    (ce_grad,) = torch.autograd.grad(ce, logits)
    assert torch.allclose(kl_grad, ce_grad, atol=1e-6)


def test_runs_record_their_smoothing(digits_target, run_knockoff) -> None:
    label, _, _ = run_knockoff(digits_target, {**FAST, "answer": "label", "curve": [1.0]})
    posterior, _, _ = run_knockoff(digits_target, {**FAST, "answer": "posterior", "curve": [1.0]}, key="posterior")
    assert label.data["smoothing"] == 0.1 and label.data["recipe"]["batch_size"] == 64
    # Posteriors are softened by the temperature (2) instead, and smoothed only when asked.
    assert posterior.data["smoothing"] == 0.0 and posterior.data["temperature"] == 2.0
    asked = get_attack("stealing.knockoff")({"answer": "posterior", "label_smoothing": 0.2}).params
    assert asked.smoothing == 0.2
