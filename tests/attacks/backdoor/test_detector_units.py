"""Detector building blocks on hand-made models and numbers: MAD outliers, trigger reversal, STRIP, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from securitynet.analysis.stats import backdoor_detection_in, model_level_auroc
from securitynet.attacks.backdoor.abs import AbsParams, pick_layer, stimulation_analysis
from securitynet.attacks.backdoor.common import PixelModel
from securitynet.attacks.backdoor.neural_cleanse import (
    NeuralCleanseParams,
    detect_outliers,
    reverse_engineer_triggers,
)
from securitynet.attacks.backdoor.strip import far_at_frr, superimpose
from securitynet.catalog.card import BackdoorInfo, InputSpec, ModelCard
from securitynet.store import JobRecord, Store


def test_anomaly_index_is_the_mad_distance_with_the_consistency_constant() -> None:
    norms = np.array([10.0, 11.0, 9.0, 10.5, 9.5, 2.0, 10.0, 12.0, 8.0, 10.0])
    report = detect_outliers(norms)
    median = np.median(norms)
    mad = 1.4826 * np.median(np.abs(norms - median))
    assert report.median == pytest.approx(median) and report.mad == pytest.approx(mad)
    np.testing.assert_allclose(report.anomaly_index, np.abs(norms - median) / mad)
    assert report.flagged_classes == [5] and report.suspected_target == 5
    assert report.model_anomaly_index == pytest.approx((median - 2.0) / mad)
    # A large norm is an outlier too, but not a backdoor: only small norms are flagged.
    high = detect_outliers(np.array([10.0, 11.0, 9.0, 10.5, 9.5, 40.0, 10.0, 12.0, 8.0, 10.0]))
    assert high.flagged_classes == [] and high.model_anomaly_index < 2
    # No spread at all: nothing to measure against, nothing flagged.
    flat = detect_outliers(np.full(10, 5.0))
    assert flat.flagged_classes == [] and flat.model_anomaly_index == 0.0


class _CornerBackdoor(nn.Module):
    """8x8 grey images scored against ten fixed random +-1 templates; a white 2x2 bottom-right corner sends
    everything to class 2: a 4-pixel trigger, while moving a template image to another class takes ~10 pixels."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.templates = nn.Parameter(torch.randint(0, 2, (10, 64), generator=generator).float() * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = 5.0 * x.flatten(1) @ self.templates.T / 8.0
        corner = x[:, 0, -2:, -2:].mean(dim=(1, 2))
        bonus = torch.zeros_like(logits)
        bonus[:, 2] = 40.0 * torch.relu(corner - 0.6)
        return logits + bonus

    def images(self, n: int) -> torch.Tensor:
        """Images of each class: 0.7 where the class template is +1, 0.2 elsewhere, a little noise."""
        generator = torch.Generator().manual_seed(1)
        signs = self.templates.detach()[torch.arange(n) % 10] > 0
        x = 0.2 + 0.5 * signs.float() + 0.05 * torch.rand(n, 64, generator=generator)
        return x.view(n, 1, 8, 8)


def _card(backdoor: BackdoorInfo | None = None) -> ModelCard:
    return ModelCard(id="test/corner", name="corner", source="test", dataset="digits", num_classes=10,
                     input=InputSpec(channels=1, size=(8, 8)), backdoor=backdoor)


@pytest.mark.slow
@pytest.mark.parametrize(("max_batch_images", "precision"), [
    (1024, "float32"),  # all classes in one pass
    (48, "float32"),  # groups of three classes
    (1024, "bfloat16"),  # the network's passes in mixed precision
])
def test_neural_cleanse_finds_the_small_trigger_of_a_backdoored_model(max_batch_images: int, precision: str) -> None:
    backdoored = _CornerBackdoor().requires_grad_(False)
    model = PixelModel(backdoored, _card())
    images = backdoored.images(64)
    assert (model(images).argmax(dim=1) == torch.arange(64) % 10).all()  # a working classifier
    seen: list[torch.dtype] = []
    backdoored.register_forward_hook(lambda _module, _inputs, output: seen.append(output.dtype))
    # 64-pixel images: a larger starting lambda than the paper's 1e-3 for 3072-pixel CIFAR images.
    params = NeuralCleanseParams(n_images=64, batch_size=16, steps_per_epoch=4, max_epochs=60, init_cost=0.02,
                                 max_batch_images=max_batch_images, precision=precision)
    result = reverse_engineer_triggers(model, images, 10, params, torch.Generator().manual_seed(2))
    # The output guard ran on the float32 pass above: every optimisation step runs in the precision asked for.
    assert set(seen) == {getattr(torch, precision)}
    assert result.masks.dtype == np.float32 and np.isfinite(result.norms).all()
    assert result.masks.shape == (10, 8, 8) and result.patterns.shape == (10, 1, 8, 8)
    assert result.reached[2] and result.norms[2] < 8
    assert int(np.argmin(result.norms)) == 2
    report = detect_outliers(result.norms)
    assert report.flagged_classes[:1] == [2] and report.suspected_target == 2
    # The reversed mask sits on the corner.
    assert result.masks[2][-2:, -2:].sum() > 0.5 * result.masks[2].sum()


def test_neural_cleanse_in_bfloat16_accepts_a_model_that_returns_probabilities() -> None:
    """Such a model's own softmax runs in bfloat16 under autocast, its rows a little off a sum of 1: the output
    guard must have seen the model's float32 outputs, where they do sum to 1."""
    backdoored = _CornerBackdoor().requires_grad_(False)
    softmaxed = nn.Sequential(backdoored, nn.Softmax(dim=1))
    card = _card().model_copy(update={"output_kind": "probabilities"})
    params = NeuralCleanseParams(n_images=64, batch_size=16, steps_per_epoch=2, max_epochs=2, init_cost=0.02,
                                 precision="bfloat16")
    result = reverse_engineer_triggers(PixelModel(softmaxed, card), backdoored.images(64), 10, params,
                                       torch.Generator().manual_seed(2))
    assert np.isfinite(result.norms).all() and result.steps == 4


def test_abs_stimulation_points_at_the_neuron_that_forces_one_label() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    with torch.no_grad():
        module[3].weight[:, 5] = 0.0
        module[3].weight[7, 5] = 5.0  # hidden unit 5 drives class 7 and nothing else
    model = PixelModel(module.requires_grad_(False), _card())
    name, layer = pick_layer(module, None)
    assert name == "1"
    images = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    labels = np.repeat(np.arange(10), 2)
    candidates = stimulation_analysis(model, layer, images, labels, AbsParams(top_neurons=3))
    assert candidates and candidates[0].neuron == 5 and candidates[0].label == 7


def test_strip_blending_and_threshold() -> None:
    a = np.array([[[200, 10]]], dtype=np.uint8)
    b = np.array([[[100, 20]], [[0, 0]]], dtype=np.uint8)
    added = superimpose(a, b, "add")
    assert added.shape == (1, 2, 1, 2)
    np.testing.assert_array_equal(added[0, 0], [[255, 30]])  # saturating, as cv2.addWeighted on uint8
    np.testing.assert_array_equal(superimpose(a, b, "average")[0, 0], [[150, 15]])
    calibration = np.linspace(1.0, 2.0, 101)
    threshold, far, frr = far_at_frr(calibration, np.array([1.5, 0.5]), np.array([0.1, 1.2, 3.0]), 0.01)
    assert threshold == pytest.approx(1.01)
    assert far == pytest.approx(2 / 3) and frr == pytest.approx(0.5)


def test_model_level_auroc_from_the_store_for_any_subset(tmp_path) -> None:
    """The one model-level AUROC (analysis's, torch-free) over stored detector results and the cards' truth."""
    from securitynet.attacks.backdoor.neural_cleanse import NeuralCleanse

    cards = [
        ModelCard(id="z/clean1", name="c1", source="t", dataset="mnist", backdoor=BackdoorInfo(attack="none")),
        ModelCard(id="z/clean2", name="c2", source="t", dataset="mnist", backdoor=BackdoorInfo(attack="none")),
        ModelCard(id="z/bad1", name="b1", source="t", dataset="mnist",
                  backdoor=BackdoorInfo(attack="badnets", target_label=1)),
        ModelCard(id="z/bad2", name="b2", source="t", dataset="mnist",
                  backdoor=BackdoorInfo(attack="blended", target_label=4)),
        ModelCard(id="z/unknown", name="u", source="t", dataset="mnist"),
    ]
    values = {  # model -> (score, flagged, target_hit)
        "z/clean1": (1.0, 0.0, None), "z/clean2": (2.5, 1.0, None),
        "z/bad1": (3.0, 1.0, 1.0), "z/bad2": (2.0, 0.0, 0.0), "z/unknown": (9.0, 1.0, None),
    }
    store = Store(f"sqlite:///{tmp_path / 'detectors.sqlite'}")
    store.upsert_cards(cards)
    store.record_attacks([NeuralCleanse.declaration()])
    store.record_jobs([JobRecord(model_id=m, weight_hash=None, attack="backdoor.neural_cleanse", attack_version="1",
                                 params={}, seed=0, metrics={"score": score, "flagged": flagged, "target_hit": hit})
                       for m, (score, flagged, hit) in values.items()]
                      + [JobRecord(model_id=m, weight_hash=None, attack="mia.loss", attack_version="1", params={},
                                   seed=0, metrics={"auc": 0.5}) for m in values])
    table = backdoor_detection_in(store).set_index("metric")
    assert set(table.attack) == {"backdoor.neural_cleanse"}
    scored = table.loc[["score", "flagged"]]
    assert (scored.n_clean == 2).all() and (scored.n_backdoored == 2).all()  # the unknown model is left out
    assert table.loc["score", "model_auroc"] == pytest.approx(0.75)  # pairs: (3>1, 3>2.5, 2>1, 2<2.5) -> 3 of 4
    assert table.loc["flagged", "mean_backdoored"] == pytest.approx(0.5)  # TPR
    assert table.loc["flagged", "mean_clean"] == pytest.approx(0.5)  # FPR
    assert np.isnan(table.loc["flagged", "model_auroc"]) and "not a score" in table.loc["flagged", "note"]
    assert table.loc["target_hit", "mean_backdoored"] == pytest.approx(0.5)  # target-hit rate, of 2 known targets
    assert table.loc["target_hit", "n_backdoored"] == 2
    subset = backdoor_detection_in(store, ["z/clean1", "z/bad2"]).set_index("metric")
    assert subset.loc["score", "model_auroc"] == pytest.approx(1.0)
    only_clean = backdoor_detection_in(store, ["z/clean1", "z/clean2"]).set_index("metric")
    assert np.isnan(only_clean.loc["score", "model_auroc"])
    assert "needs clean and backdoored" in only_clean.loc["score", "note"]
    assert np.isnan(model_level_auroc([0.1, 0.2], [False, False]))
    assert model_level_auroc([0.1, 0.2], [False, True], higher_is_positive=False) == pytest.approx(0.0)
