"""Threat models and label-only scoring of the suite's attacks on a small overfitted digits model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.attacks import get_attack
from securitynet.attacks.membership import membership_quickstart_attacks
from securitynet.attacks.membership.label_only import noise_robustness_scores
from securitynet.catalog.card import InputSpec
from securitynet.engine.access import view_for
from securitynet.engine.cache import PosteriorCache
from securitynet.engine.context import JobContext
from securitynet.zoo.loader import load_target
from securitynet.zoo.selftrained import SelfTrainedRecipe, train_selftrained
from securitynet.zoo.train import TrainRecipe


@pytest.fixture(scope="module")
def overfitted(tmp_path_factory: pytest.TempPathFactory):
    """An MLP trained for 300 epochs on 60 digits images: members are clearly easier than non-members."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("mia-attacks")
        patch.setenv("SECURITYNET_HOME", str(root / "home"))
        patch.setenv("SECURITYNET_CACHE", str(root / "cache"))
        recipe = SelfTrainedRecipe(
            card_id="selftrained/digits/test-mlp-n60", dataset="digits", architecture="mlp",
            arch_kwargs={"in_channels": 1, "input_size": 8, "hidden": [256, 128]},
            train=TrainRecipe(epochs=300, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=32, schedule="none"),
            train_size=60, input_spec=InputSpec(channels=1, size=(8, 8)), num_classes=10,
        )
        card = train_selftrained(recipe, device="cpu").card
        yield root, load_target(card, device="cpu")


def _run(name: str, params: dict, target, root: Path):
    cls = get_attack(name)
    ctx = JobContext.standalone(target.card, seed=1, access=cls.access, device="cpu",
                                cache=PosteriorCache(root / "posteriors"), artifacts_root=root / "artifacts")
    view = view_for(target, cls.access)
    return cls(params).run(view, ctx), ctx, view


def test_partial_threat_model_is_evaluated_on_the_records_the_attacker_did_not_know(overfitted) -> None:
    root, target = overfitted
    for name, params in (("mia.mlp_top3", {"threat_model": "partial", "known_fraction": 0.4}),
                         ("mia.modified_entropy", {"threshold_source": "partial", "known_fraction": 0.4,
                                                   "per_class_threshold": True})):
        result, ctx, _ = _run(name, params, target, root)
        known = ctx.notes["known_to_attacker"]  # 40% of the 60 members (all the model has) and of 60 non-members
        assert len(known["member_indices"]) == 24 and result.data["evaluated"]["n_members"] == 36
        scores = np.load(result.artifacts["scores"]["path"])
        assert not set(scores["member_indices"]) & set(known["member_indices"])
        assert not set(scores["nonmember_indices"]) & set(known["nonmember_indices"])
        assert result.metrics["auc"] > 0.6 and 0.5 < result.metrics["accuracy_at_threshold"] <= 1.0, name


def test_threshold_none_reports_the_threshold_free_metrics_and_says_why_the_rest_is_missing(overfitted) -> None:
    root, target = overfitted
    result, _, _ = _run("mia.loss", {"threshold_source": "none"}, target, root)
    assert result.metrics["accuracy_at_threshold"] is None
    assert result.missing_reasons["accuracy_at_threshold"] == "threshold_source is 'none'"
    assert result.metrics["auc"] > 0.6


def test_noise_robustness_scores_follow_the_decision_boundary() -> None:
    images = np.zeros((3, 8, 8), np.uint8)
    images[1] = 200  # bright: robustly class 1
    images[2] = 120  # just below the boundary at 128 (class 1 above, class 0 below)
    labels = np.array([1, 1, 1])

    def predict(x: np.ndarray) -> np.ndarray:
        return (x.reshape(len(x), -1).mean(axis=1) > 128).astype(int)

    scores = noise_robustness_scores(predict, images, labels, (0.05, 0.3), 64, np.random.default_rng(0))
    assert scores[0] == 0.0  # misclassified: distance 0, as in Choquette-Choo et al.
    assert scores[1] == 2.0 and scores[2] == 0.0  # never flipped by noise; misclassified
    images[2] = 135  # just above it: noise of sigma 0.3 (9.6 on the mean of 64 pixels) flips it at times
    scores = noise_robustness_scores(predict, images, labels, (0.05, 0.3), 64, np.random.default_rng(0))
    assert 1.0 < scores[2] < 2.0


def test_label_noise_attack_uses_labels_only_and_counts_its_queries(overfitted) -> None:
    root, target = overfitted
    params = {"n": 50, "sigmas": [0.05, 0.1], "draws": 3, "threshold_source": "partial", "known_fraction": 0.5}
    result, _, view = _run("mia.label_noise", params, target, root)
    assert view.access == "label"
    # 50 records per side (25 known, 25 evaluated), each queried once clean and 2 levels x 3 draws noisy
    assert view.queries == 100 * (1 + 2 * 3)
    assert result.metrics["auc"] > 0.5 and result.metrics["accuracy_at_threshold"] is not None


def test_quickstart_attacks_are_registered_with_valid_parameters() -> None:
    zoo = membership_quickstart_attacks()
    public = membership_quickstart_attacks(train_models=False)
    for name, params in zoo + public:
        get_attack(name).parse_params(params)
    assert "mia.lira_online" in {name for name, _ in zoo}
    assert all(p["n_reference"] <= 16 for name, p in zoo if name.startswith("mia.lira"))
    assert not any(name.startswith("mia.lira") for name, _ in public)
    # nothing on the public models trains a model: no shadow thresholds, no shadow attack models
    assert all(p.get("threshold_source", "partial") == "partial" and p.get("threat_model", "partial") == "partial"
               for name, p in public if name != "mia.correctness")
