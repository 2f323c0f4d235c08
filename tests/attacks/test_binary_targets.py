"""A two-class model with one output unit, end to end: annotation, membership inference, stealing and STRIP
through the engine, as a PyTorch state dict (binary_logit) and as an ONNX file ending in a sigmoid
(binary_probability). Trained here, briefly, on BreastMNIST from ../shared/data, with a BadNets patch."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import securitynet
from securitynet.annotation import annotate_models
from securitynet.catalog.card import BackdoorInfo, InputSpec, ModelCard, WeightsSpec
from securitynet.catalog.sources.onnx_file import card_from_onnx_file
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.trojan.triggers import apply_trigger
from securitynet.zoo.weights import sha256_file

DATASET = "breastmnist"
ARCH = {"num_classes": 1, "in_channels": 1, "input_size": 28}  # one output unit: the logit of class 1
TRIGGER = {"kind": "patch", "size": 4, "position": "bottom-right", "value": 255}
TARGET_LABEL = 1
ATTACKS = "mia.confidence,stealing.knockoff,backdoor.strip"
PARAMS = [
    "mia.confidence.n=60", "mia.confidence.threshold_source=partial",
    "stealing.knockoff.budget=200", "stealing.knockoff.epochs=2", "stealing.knockoff.min_steps=0",
    "stealing.knockoff.curve=[1.0]",
    # BreastMNIST's held-out split has 156 images: 2 x 30 scored + 30 calibration + 50 overlays fit.
    "backdoor.strip.n_inputs=30", "backdoor.strip.n_calibration=30", "backdoor.strip.n_overlay_pool=50",
    "backdoor.strip.n_overlay=8",
]


@pytest.fixture(scope="module")
def breast_train(shared_data: Path):
    from securitynet.data import load_split
    from securitynet.errors import DatasetError

    try:
        return load_split(DATASET, "train")
    except DatasetError as exc:
        pytest.skip(f"{DATASET} is not available offline: {exc}")


class Sigmoid(torch.nn.Module):
    """The binary model as published with its probability output (what an ONNX export often holds)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.module(x))


@pytest.fixture(scope="module")
def binary_model(breast_train, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A one-unit LeNet trained 40 full-batch steps (a few seconds), 10% of its images patched -> class 1.

    Returns the state dict and an ONNX export of the model followed by a sigmoid.
    """
    rng = np.random.default_rng(0)
    images, labels = np.array(breast_train.images), np.array(breast_train.labels, dtype=np.float32)
    poisoned = rng.choice(len(images), size=len(images) // 10, replace=False)
    images[poisoned] = apply_trigger(images[poisoned], TRIGGER)
    labels[poisoned] = TARGET_LABEL
    torch.manual_seed(0)
    model = build_architecture("lenet", **ARCH)
    x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    y = torch.from_numpy(labels)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        optimiser.zero_grad()
        F.binary_cross_entropy_with_logits(model(x)[:, 0], y).backward()
        optimiser.step()
    folder = tmp_path_factory.mktemp("binary")
    torch.save(model.state_dict(), folder / "breast_binary.pt")
    onnx_path = folder / "breast_binary_sigmoid.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(Sigmoid(model).eval(), (x[:2],), str(onnx_path), dynamo=False, input_names=["images"],
                          output_names=["probability"], dynamic_axes={"images": {0: "n"}, "probability": {0: "n"}})
    return folder / "breast_binary.pt", onnx_path


def _backdoor() -> BackdoorInfo:
    return BackdoorInfo(attack="badnets", target_label=TARGET_LABEL, trigger=TRIGGER, poison_rate=0.1)


@pytest.fixture
def cards(binary_model, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ModelCard]:
    weights, onnx_path = binary_model
    monkeypatch.setenv("SECURITYNET_MIRROR", str(weights.parent))
    for name in ("SECURITYNET_CACHE", "SECURITYNET_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    state_dict_card = ModelCard(
        id="test/breast_binary", name="breast_binary", source="file", architecture="lenet", arch_kwargs=ARCH,
        dataset=DATASET, train_size=546, training_split="train", input=InputSpec(channels=1, size=(28, 28)),
        output_kind="binary_logit", weights=WeightsSpec(filename=weights.name, sha256=sha256_file(weights)),
        backdoor=_backdoor(),
    )
    onnx_card = card_from_onnx_file(onnx_path, dataset=DATASET, card_id="test/breast_binary_onnx",
                                    train_size=546, backdoor=_backdoor().model_dump())
    return [state_dict_card, onnx_card]


@pytest.mark.slow
def test_one_unit_binary_models_go_through_annotation_and_every_attack_family(cards, store) -> None:
    state_dict_card, onnx_card = cards
    assert (state_dict_card.num_classes, onnx_card.num_classes) == (2, 2)
    assert onnx_card.output_kind == "binary_probability"  # read from the graph's final Sigmoid

    rows = annotate_models(cards, store, device="cpu").rows
    assert [row.status for row in rows] == ["done", "done"], [row.error for row in rows]
    for row in rows:
        assert row.metrics["num_classes"] == 2  # two-class posteriors, not the single unit
        for name in ("train_accuracy", "test_accuracy"):
            assert 0.5 <= row.metrics[name] <= 1  # better than chance, a fraction
    assert rows[0].metrics["test_accuracy"] == pytest.approx(rows[1].metrics["test_accuracy"])

    frame = securitynet.evaluate(cards, ATTACKS, store=store, params=PARAMS, device="cpu")
    assert not frame.attrs["failed"], frame.attrs["failed"]
    # The default surrogate is the target's own architecture (one unit here): an ONNX card names none.
    (skipped,) = frame.attrs["not_applicable"]
    assert (skipped["model_id"], skipped["attack"]) == (onnx_card.id, "stealing.knockoff")
    assert "names no architecture" in skipped["reason"]
    small_cnn = [*[p for p in PARAMS if p.startswith("stealing.")], "stealing.knockoff.surrogate=small-cnn"]
    stolen = securitynet.evaluate(onnx_card, "stealing.knockoff", store=store, params=small_cnn, device="cpu")
    assert not stolen.attrs["failed"] and not stolen.attrs["not_applicable"]
    frame = pd.concat([frame, stolen])
    assert set(frame.attack) == set(ATTACKS.split(",")) and set(frame.model_id) == {c.id for c in cards}
    values = frame.dropna(subset=["value"])
    assert all(math.isfinite(v) for v in values.value)
    by = {(r.model_id, r.attack, r.metric): r.value for r in values.itertuples()}
    for card in cards:
        assert 0 <= by[(card.id, "mia.confidence", "auc")] <= 1
        assert 0 <= by[(card.id, "stealing.knockoff", "agreement")] <= 1
        assert 0 <= by[(card.id, "stealing.knockoff", "accuracy")] <= 1
        assert 0 <= by[(card.id, "backdoor.strip", "auroc")] <= 1
        # STRIP's entropies are of two-class posteriors: at most one bit.
        assert 0 <= by[(card.id, "backdoor.strip", "entropy_clean_mean")] <= 1
        assert by[(card.id, "backdoor.strip", "triggered_target_rate")] > 0.5  # the patch took
    # Same network and the same member/non-member sets (drawn by seed and dataset only; STRIP's draws depend on
    # the job, so differ): the sigmoid-probability ONNX export scores membership as the logit model does.
    key = ("mia.confidence", "auc")
    assert by[(onnx_card.id, *key)] == pytest.approx(by[(state_dict_card.id, *key)], abs=1e-6)
