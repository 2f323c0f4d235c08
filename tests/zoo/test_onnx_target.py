"""ONNX targets: an ONNX export of a public MNIST model answers as the PyTorch original, through the engine too;
white-box attacks get the onnx2torch conversion, or are planned as not applicable with the reason."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import securitynet
from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import yaml_cards
from securitynet.catalog.sources.onnx_file import card_from_onnx_file
from securitynet.engine.access import view_for
from securitynet.engine.plan import build_plan
from securitynet.errors import CardError, ChecksumError, WeightsError
from securitynet.zoo.loader import load_target
from securitynet.zoo.onnx_target import OnnxRuntimeModule
from securitynet.zoo.weights import sha256_file

PUBLIC = "file/lenet5_advertorch_clean"


@pytest.fixture
def offline(mirror: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The public MNIST weights as the only mirror (conftest), no network, and a private home for artifacts."""
    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    return tmp_path


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """torch.onnx.export with a free batch dimension (the TorchScript exporter: no onnxscript needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, input_names=["images"],
                          output_names=["outputs"], dynamic_axes={"images": {0: "batch"}, "outputs": {0: "batch"}})
    return path


@pytest.fixture
def public_and_onnx(offline: Path, tmp_path: Path) -> tuple[ModelCard, ModelCard]:
    """The public LeNet's card and the card of its ONNX export (made here, from the mirrored weights)."""
    public = next(card for card in yaml_cards.iter_cards() if card.id == PUBLIC)
    module = load_target(public, device="cpu").module
    path = export_onnx(module, torch.zeros(2, 1, 28, 28), tmp_path / "lenet5_clean.onnx")
    return public, card_from_onnx_file(path, dataset="mnist", card_id="onnx/lenet5_clean", license="LGPL-3.0")


@pytest.fixture(scope="module")
def mnist_test():
    from securitynet.data import load_split
    from securitynet.errors import DatasetError

    try:
        return load_split("mnist", "test")
    except DatasetError as exc:
        pytest.skip(f"MNIST test split unavailable: {exc}")


def test_the_card_says_what_the_file_says(public_and_onnx, tmp_path: Path) -> None:
    _, card = public_and_onnx
    path = tmp_path / "lenet5_clean.onnx"
    assert (card.id, card.source, card.dataset, card.license) == ("onnx/lenet5_clean", "onnx", "mnist", "LGPL-3.0")
    assert (card.input.channels, card.input.size, card.input.scale) == (1, (28, 28), pytest.approx(1 / 255))
    assert (card.num_classes, card.output_kind, card.architecture) == (10, "logits", None)
    assert card.weights.format == "onnx" and card.weights.sha256 == sha256_file(path)
    assert card.weights.urls == [path.resolve().as_uri()]
    assert card.extra["onnx"]["input_shape"] == ["batch", 1, 28, 28] and card.extra["onnx"]["opset"] >= 9


def test_onnx_posteriors_equal_the_pytorch_original(public_and_onnx, mnist_test) -> None:
    public, card = public_and_onnx
    original = load_target(public, device="cpu")
    onnx_target = load_target(card, device="cpu")
    assert isinstance(onnx_target.module, OnnxRuntimeModule)  # the black box is onnxruntime, not a conversion
    assert onnx_target.weight_hash == f"sha256:{card.weights.sha256}" != original.weight_hash
    images = mnist_test.images[:1000]
    np.testing.assert_allclose(onnx_target.predict_proba(images), original.predict_proba(images), rtol=0, atol=1e-5)
    assert (onnx_target.predict(images) == mnist_test.labels[:1000]).mean() > 0.97


def test_the_white_box_is_the_onnx2torch_conversion_with_gradients(public_and_onnx, mnist_test) -> None:
    _, card = public_and_onnx
    target = load_target(card, device="cpu")
    white = view_for(target, "white-box")
    assert not isinstance(white.module, OnnxRuntimeModule) and white.card is card
    assert white.weight_hash == target.weight_hash
    x = white.preprocess(mnist_test.images[:16]).requires_grad_(True)
    white.forward_tensor(x)[:, 3].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    np.testing.assert_allclose(white.predict_proba(mnist_test.images[:64]),
                               target.predict_proba(mnist_test.images[:64]), atol=1e-5)


@pytest.mark.slow
def test_the_engine_gives_the_same_membership_results_for_both(public_and_onnx, store) -> None:
    public, card = public_and_onnx
    attacks = "mia.confidence,mia.loss,mia.correctness"
    # Thresholds from a known part of the target's own records: shadow models would differ by design (the
    # ONNX card names no architecture, so its shadows are the fallback CNN, the original's are LeNets).
    params = ["mia.*.n=300", "mia.*.threshold_source=partial"]
    frame = securitynet.evaluate([public, card], attacks, store=store, params=params, seeds=[3])
    assert not frame.attrs["failed"]
    values = frame.pivot_table(index=["attack", "metric"], columns="model_id", values="value")
    assert set(values.index.get_level_values("attack")) == set(attacks.split(","))
    auc = values.xs("auc", level="metric")
    assert ((auc >= 0) & (auc <= 1)).all().all()
    np.testing.assert_allclose(values[card.id].to_numpy(), values[PUBLIC].to_numpy(), rtol=0, atol=1e-6)


def unconvertible_onnx(path: Path, *, last_op: str = "Shrink", batch: int | str = "batch") -> Path:
    """A digits classifier (8x8 grey -> 10 scores) ending in ``last_op``: onnxruntime runs a Shrink, onnx2torch
    has no converter for it. ``batch``: a name for a free batch dimension, or the only batch size it takes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.05, (64, 10)).astype(np.float32), "weight")
    nodes = [
        helper.make_node("Flatten", ["images"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "weight"], ["scores"]),
        helper.make_node(last_op, ["scores"], ["logits"], **({"lambd": 0.01} if last_op == "Shrink" else {})),
    ]
    graph = helper.make_graph(
        nodes, "digits", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])], initializer=[weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_graph_exported_for_one_batch_size_answers_any_number_of_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    card = card_from_onnx_file(unconvertible_onnx(tmp_path / "one.onnx", last_op="Softmax", batch=1),
                               dataset="digits")
    assert card.output_kind == "probabilities"  # read from the graph's final Softmax
    target = load_target(card, device="cpu")
    images = np.random.default_rng(1).integers(0, 256, size=(5, 8, 8), dtype=np.uint8)
    probs = target.predict_proba(images)
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(target.predict_proba(images[3:4]), probs[3:4], atol=1e-6)
    np.testing.assert_allclose(view_for(target, "white-box").predict_proba(images), probs, atol=1e-5)


def test_white_box_attacks_on_an_unconvertible_graph_are_not_applicable_with_the_reason(
    tmp_path: Path, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    card = card_from_onnx_file(unconvertible_onnx(tmp_path / "shrinking.onnx"), dataset="digits")
    target = load_target(card, device="cpu")
    assert target.predict_proba(np.zeros((3, 8, 8), dtype=np.uint8)).shape == (3, 10)  # the black box works

    plan = build_plan([card], "backdoor.neural_cleanse,backdoor.abs,mia.confidence")
    reasons = {entry.job.attack: entry.reason for entry in plan.not_applicable}
    assert set(reasons) == {"backdoor.neural_cleanse", "backdoor.abs"}
    assert all("onnx2torch" in reason and "Shrink" in reason for reason in reasons.values())
    assert [job.attack for job in plan.pending] == ["mia.confidence"]

    frame = securitynet.evaluate(card, "backdoor.neural_cleanse,mia.confidence", store=store,
                                 params=["mia.confidence.n=100"])
    assert not frame.attrs["failed"] and store.jobs_frame(status="failed").empty
    assert set(frame.attack) == {"mia.confidence"} and frame.value.notna().all()
    (skipped,) = frame.attrs["not_applicable"]
    assert skipped["attack"] == "backdoor.neural_cleanse" and "Shrink" in skipped["reason"]


def test_a_changed_onnx_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    path = unconvertible_onnx(tmp_path / "model.onnx")
    card = card_from_onnx_file(path, dataset="digits")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_target(card, device="cpu")


def test_files_that_are_not_usable_onnx_models_get_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a protobuf at all" * 3)
    with pytest.raises(WeightsError, match="junk.onnx") as error:
        card_from_onnx_file(junk, dataset="digits")
    assert "\n" not in str(error.value)
    with pytest.raises(CardError, match="dataset"):
        card_from_onnx_file(unconvertible_onnx(tmp_path / "model.onnx"))
    with pytest.raises(CardError, match="does not exist"):
        card_from_onnx_file(tmp_path / "absent.onnx", dataset="digits")


def test_external_data_is_refused(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(unconvertible_onnx(tmp_path / "model.onnx")))
    onnx.save(model, str(tmp_path / "split.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="split.data", size_threshold=0)
    with pytest.raises(WeightsError, match="external data"):
        card_from_onnx_file(tmp_path / "split.onnx", dataset="digits")


def test_options_and_yaml_complete_what_the_file_cannot_say(tmp_path: Path) -> None:
    extra = tmp_path / "card.yaml"
    extra.write_text("dataset: digits\nlicense: MIT\ninput: {scale: 0.5, mean: [0.1], std: [0.2]}\n"
                     "output_kind: probabilities\n")
    path = unconvertible_onnx(tmp_path / "model.onnx")
    card = card_from_onnx_file(path, extra_yaml=extra, output_kind="logits", mean=(0.3,), std=(0.4,))
    assert (card.dataset, card.license, card.output_kind) == ("digits", "MIT", "logits")  # options win over YAML
    assert (card.input.scale, card.input.mean, card.input.std) == (0.5, (0.3,), (0.4,))
    with pytest.raises(CardError, match="10 output unit"):
        card_from_onnx_file(path, dataset="digits", output_kind="binary_logit")
    with pytest.raises(CardError, match=r"takes input size \[8, 8\].*the options say \(28, 28\)"):
        card_from_onnx_file(path, dataset="digits", input_size=(28, 28))
    with pytest.raises(CardError, match="takes input channels 1"):
        card_from_onnx_file(path, dataset="digits", channels=3)


def test_evaluate_says_why_a_white_box_attack_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from securitynet.cli import app
    from securitynet.cli.common import console
    from securitynet.store import Store

    monkeypatch.setattr(console, "width", 200)  # one line per message, to search it
    for name in ("SECURITYNET_CACHE", "SECURITYNET_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    card = card_from_onnx_file(unconvertible_onnx(tmp_path / "shrinking.onnx"), dataset="digits")
    db = tmp_path / "cli.sqlite"
    Store(str(db)).upsert_cards([card])
    result = CliRunner().invoke(app, ["--db", str(db), "evaluate", "--models", card.id, "--attacks",
                                      "backdoor.abs,mia.confidence", "-p", "mia.confidence.n=50", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 to run, 0 already in the store, 1 not applicable" in result.output
    assert f"not applicable: backdoor.abs on {card.id}: no white box: onnx2torch cannot convert" in result.output
    assert "1 done, 0 failed" in result.output
    assert set(Store(str(db)).jobs_frame().attack) == {"mia.confidence"}
    # With a machine format the reason goes to stderr: standard output stays the data alone.
    machine = CliRunner().invoke(app, ["--db", str(db), "evaluate", "--models", card.id, "--attacks",
                                       "backdoor.abs,mia.confidence", "-p", "mia.confidence.n=50",
                                       "--no-progress", "--force", "--format", "json"])
    assert machine.exit_code == 0, machine.output
    assert "not applicable: backdoor.abs" in machine.stderr and "not applicable" not in machine.stdout
    assert {row["attack"] for row in json.loads(machine.stdout)} == {"mia.confidence"}
