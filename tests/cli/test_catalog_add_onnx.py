"""`securitynet catalog add` of an ONNX file and of a one-unit binary model, on a fresh database, then `evaluate`.

The ONNX file is an export, made here, of a public MNIST model from ../shared/data: it answers as the PyTorch
original (posteriors within 1e-5, the same membership results). The binary model is a LeNet with one output
unit trained here for a few steps on BreastMNIST.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import securitynet
from securitynet.catalog.sources import yaml_cards
from securitynet.cli import app
from securitynet.store import Store

PUBLIC = "file/lenet5_advertorch_clean"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _offline(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from securitynet.cli.common import console, err_console

    for stream in (console, err_console):
        monkeypatch.setattr(stream, "width", 300)  # one message, one line
    for name in ("SECURITYNET_HOME", "SECURITYNET_CACHE"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("SECURITYNET_MIRROR", str(shared_data / "models" / "mnist"))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")


def _invoke(db: Path, *args: str):
    return runner.invoke(app, ["--db", str(db), *args])


def _export(module: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


@pytest.mark.slow
def test_an_onnx_export_of_a_public_mnist_model_is_added_and_answers_as_the_original(
    tmp_path: Path, shared_data: Path
) -> None:
    public = next(card for card in yaml_cards.iter_cards() if card.id == PUBLIC)
    if not (shared_data / "models" / "mnist" / public.weights.filename).is_file():
        pytest.skip("the public MNIST weights are absent")
    original = securitynet.load(PUBLIC)
    onnx_file = _export(original.module, torch.zeros(2, 1, 28, 28), tmp_path / "lenet.onnx")
    db = tmp_path / "fresh.sqlite"

    added = _invoke(db, "catalog", "add", str(onnx_file), "--dataset", "mnist", "--id", "user/lenet_onnx")
    assert added.exit_code == 0, added.output
    assert "added user/lenet_onnx (10 classes, mnist" in added.output and "images of mnist test" in added.output
    stored = Store(str(db)).get_card("user/lenet_onnx")
    assert (stored.weights.format, stored.source, stored.output_kind) == ("onnx", "onnx", "logits")

    from securitynet.data import load_split

    images = load_split("mnist", "test").images[:500]
    exported = securitynet.load("user/lenet_onnx", store=Store(str(db)), device="cpu")
    np.testing.assert_allclose(exported.predict_proba(images), original.predict_proba(images), rtol=0, atol=1e-5)

    params = ["--param", "mia.*.n=200", "--param", "mia.confidence.threshold_source=partial"]
    for model in ("user/lenet_onnx", PUBLIC):
        run = _invoke(db, "evaluate", "--models", model, "--attacks", "mia.correctness,mia.confidence", *params,
                      "--no-progress", "--device", "cpu")
        assert run.exit_code == 0, run.output
    frame = Store(str(db)).results_frame()
    values = frame.pivot_table(index=["attack", "metric"], columns="model_id", values="value")
    assert 0 <= values.loc[("mia.confidence", "auc"), PUBLIC] <= 1
    np.testing.assert_allclose(values["user/lenet_onnx"].to_numpy(), values[PUBLIC].to_numpy(), rtol=0, atol=1e-6)


@pytest.fixture
def binary_state_dict(tmp_path: Path) -> Path:
    """A one-unit LeNet trained 15 full-batch steps on BreastMNIST (a couple of seconds)."""
    from securitynet.data import load_split
    from securitynet.errors import DatasetError
    from securitynet.zoo.archs import build_architecture

    try:
        train = load_split("breastmnist", "train")
    except DatasetError as exc:
        pytest.skip(f"BreastMNIST is not available offline: {exc}")
    torch.manual_seed(0)
    model = build_architecture("lenet", 1, in_channels=1, input_size=28)
    x = torch.from_numpy(np.asarray(train.images, dtype=np.float32) / 255.0)[:, None]
    y = torch.from_numpy(np.asarray(train.labels, dtype=np.float32))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        optimiser.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y).backward()
        optimiser.step()
    torch.save(model.state_dict(), tmp_path / "binary.pt")
    return tmp_path / "binary.pt"


def _binary_card(weights: Path, **changes) -> Path:
    card = {"id": "user/breast_binary", "architecture": "lenet",
            "arch_kwargs": {"num_classes": 1, "in_channels": 1, "input_size": 28}, "dataset": "breastmnist",
            "input": {"channels": 1, "size": [28, 28]}, "output_kind": "binary_logit",
            "weights": {"urls": [weights.name]}, **changes}
    path = weights.parent / "binary.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


@pytest.mark.slow
def test_a_one_unit_binary_model_is_added_and_evaluated(tmp_path: Path, binary_state_dict: Path) -> None:
    db = tmp_path / "fresh.sqlite"
    refused = _invoke(db, "catalog", "add", str(_binary_card(binary_state_dict, output_kind="binary_probability")))
    assert refused.exit_code == 1 and Store(str(db)).model_ids() == []
    assert "not stored: output_kind: declared binary probabilities are outside [0, 1]" in refused.output

    added = _invoke(db, "catalog", "add", str(_binary_card(binary_state_dict)))
    assert added.exit_code == 0, added.output
    assert "added user/breast_binary (2 classes, breastmnist" in added.output
    run = _invoke(db, "evaluate", "--models", "user/breast_binary", "--attacks", "mia.confidence",
                  "--param", "mia.confidence.n=60", "--param", "mia.confidence.threshold_source=partial",
                  "--no-progress", "--device", "cpu")
    assert run.exit_code == 0, run.output
    values = Store(str(db)).results_frame(model_ids=["user/breast_binary"]).set_index("metric").value
    assert 0 <= values["auc"] <= 1 and np.isfinite(values.dropna()).all()
