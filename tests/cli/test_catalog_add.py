"""`securitynet catalog add SOURCE` checks a card against its real model before storing it; `catalog remove`.

Models are made here (a digits MLP saved as a state dict, timm's tiny test model in a local Hub cache), so nothing
downloads. A refused card gives one line naming the field and what was seen, and nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.store import Store

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines are not folded at 80 columns, so one error line stays one line here."""
    from securitynet.cli.common import console, err_console

    monkeypatch.setattr(console, "width", 300)
    monkeypatch.setattr(err_console, "width", 300)
TIMM_TAG = "test_efficientnet.r160_in1k"  # timm's own tiny test model (0.4M parameters)


def _mlp_card(tmp_path: Path, **changes) -> Path:
    """A YAML card of a digits MLP (8x8 grey, 10 classes) whose weights are saved next to it."""
    from securitynet.zoo.archs import build_architecture

    torch.manual_seed(0)
    weights = {k: v.clone() for k, v in build_architecture("mlp", 10, input_size=8).state_dict().items()}
    if changes.pop("nan_biases", False):
        weights = {k: torch.full_like(v, float("nan")) if k.endswith("bias") else v for k, v in weights.items()}
    torch.save(weights, tmp_path / "mlp.pt")
    card = {"id": "user/digits_mlp", "architecture": "mlp", "arch_kwargs": {"input_size": 8}, "dataset": "digits",
            "num_classes": 10, "input": {"channels": 1, "size": [8, 8]}, "weights": {"urls": ["mlp.pt"]},
            "output_kind": "logits", "purpose": "other"}
    card.update(changes)
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def _invoke(db: Path, *args: str):
    return runner.invoke(app, ["--db", str(db), *args])


@pytest.mark.slow
def test_a_yaml_card_is_added_then_evaluated_then_removed(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite"
    added = _invoke(db, "catalog", "add", str(_mlp_card(tmp_path)))
    assert added.exit_code == 0, added.output
    assert "added user/digits_mlp" in added.output and "images of digits test" in added.output
    assert Store(str(db)).get_card("user/digits_mlp").weights.urls[0].startswith("file://")

    run = _invoke(db, "evaluate", "--models", "user/digits_mlp", "--attacks", "mia.correctness",
                  "--param", "mia.correctness.n=40", "--no-progress", "--device", "cpu")
    assert run.exit_code == 0, run.output
    results = Store(str(db)).results_frame(model_ids=["user/digits_mlp"])
    assert not results.empty and results["value"].notna().any()

    removed = _invoke(db, "catalog", "remove", "user/digits_mlp")
    assert removed.exit_code == 0 and Store(str(db)).model_ids() == []
    again = _invoke(db, "catalog", "remove", "user/digits_mlp")
    assert again.exit_code == 1 and "no model card 'user/digits_mlp' in the database" in again.output


@pytest.mark.parametrize(("changes", "field", "seen"), [
    ({"num_classes": 7}, "num_classes", "the card says 7, the weights' output layer has 10 outputs"),
    ({"input": {"channels": 1, "size": [10, 10]}}, "input", "inputs of size (10, 10)"),
    ({"nan_biases": True}, "outputs", "not finite"),
    ({"output_kind": "probabilities"}, "output_kind", "declared probabilities"),
], ids=["num_classes", "input_size", "nan_outputs", "probabilities_for_logits"])
def test_a_card_that_does_not_describe_its_model_is_refused_in_one_line(tmp_path: Path, changes, field,
                                                                        seen) -> None:
    db = tmp_path / "fresh.sqlite"
    result = _invoke(db, "catalog", "add", str(_mlp_card(tmp_path, **changes)))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"user/digits_mlp not stored: {field}:" in lines[0] and seen in lines[0]
    assert Store(str(db)).model_ids() == []


@pytest.mark.slow
def test_a_timm_tag_from_a_local_hub_cache_is_added_pinned_and_evaluated(tmp_path: Path, hub_cache) -> None:
    import timm
    from safetensors.torch import save

    torch.manual_seed(0)
    state = {k: v.detach().clone().contiguous() for k, v in timm.create_model(TIMM_TAG).state_dict().items()}
    blob = hub_cache(f"timm/{TIMM_TAG}", "model.safetensors", save(state))
    db = tmp_path / "fresh.sqlite"

    added = _invoke(db, "catalog", "add", f"timm:{TIMM_TAG}", "--dataset", "digits")
    assert added.exit_code == 0, added.output
    card = Store(str(db)).get_card(f"timm/{TIMM_TAG}")
    assert card.dataset == "digits" and card.weights.sha256 == blob.name
    assert "/resolve/main/" not in card.weights.urls[0]  # pinned to the cached commit

    run = _invoke(db, "evaluate", "--models", f"timm/{TIMM_TAG}", "--attacks", "mia.correctness",
                  "--param", "mia.correctness.n=20", "--no-progress", "--device", "cpu")
    assert run.exit_code == 0, run.output
    assert not Store(str(db)).results_frame(model_ids=[f"timm/{TIMM_TAG}"]).empty


def _put_tiny_hub_repo(hub_cache, repo: str) -> None:
    """A Hub repo as timm's push_to_hf_hub writes it: config.json and model.safetensors of a 10-class tiny ViT."""
    import timm
    from safetensors.torch import save

    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=10, img_size=32)
    config = {"architecture": "test_vit", "num_classes": 10, "model_args": {"img_size": 32},
              "label_names": [str(i) for i in range(10)],
              "pretrained_cfg": {"input_size": [3, 32, 32], "interpolation": "bicubic", "crop_pct": 1.0,
                                 "crop_mode": "center", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                 "num_classes": 10, "license": "mit"}}
    hub_cache(repo, "config.json", json.dumps(config).encode())
    hub_cache(repo, "model.safetensors", save({k: v.contiguous() for k, v in model.state_dict().items()}))


def test_an_hf_hub_repo_with_a_timm_config_is_added(tmp_path: Path, hub_cache) -> None:
    repo = "someone/tiny-digits-vit"
    _put_tiny_hub_repo(hub_cache, repo)
    db = tmp_path / "fresh.sqlite"

    added = _invoke(db, "catalog", "add", f"hf-hub:{repo}", "--dataset", "digits")
    assert added.exit_code == 0, added.output
    card = Store(str(db)).get_card(f"hf-hub/{repo}")
    assert (card.architecture, card.num_classes, card.input.size, card.license) == ("timm:test_vit", 10, (32, 32),
                                                                                    "mit")
    assert card.extra["label_names"][3] == "3" and card.weights.sha256 is not None


def test_a_source_that_is_none_of_the_kinds_is_refused(tmp_path: Path) -> None:
    result = _invoke(tmp_path / "db.sqlite", "catalog", "add", "weights.bin")
    assert result.exit_code == 1 and "is not a card source" in result.output
    unknown = _invoke(tmp_path / "db.sqlite", "catalog", "add", "timm:no_such_model.x")
    assert unknown.exit_code == 1 and "no pretrained tag 'no_such_model.x'" in unknown.output


def test_an_onnx_file_is_added_through_the_onnx_source_and_listed_by_source(tmp_path: Path) -> None:
    from securitynet.zoo.archs import build_architecture

    torch.manual_seed(0)
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(build_architecture("mlp", 10, input_size=8).eval(), torch.zeros(1, 1, 8, 8), str(path),
                      dynamo=False)
    db = tmp_path / "fresh.sqlite"
    added = _invoke(db, "catalog", "add", str(path), "--dataset", "digits", "--input", "1x8x8")
    assert added.exit_code == 0, added.output
    listed = _invoke(db, "catalog", "list", "--source", "onnx", "--no-builtin", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [card["id"] for card in json.loads(listed.output)] == ["onnx/mlp"]
    bad_input = _invoke(db, "catalog", "add", str(path), "--input", "8x8")
    assert bad_input.exit_code == 1 and "--input '8x8' must be CxHxW" in bad_input.output


def test_securitynet_load_finds_a_card_added_to_the_database(tmp_path: Path, monkeypatch) -> None:
    import securitynet

    db = tmp_path / "fresh.sqlite"
    assert _invoke(db, "catalog", "add", str(_mlp_card(tmp_path))).exit_code == 0
    monkeypatch.setenv("SECURITYNET_DB", str(db))
    target = securitynet.load("user/digits_mlp", device="cpu")
    assert target.card.source == "file" and target.predict_proba(np.zeros((2, 8, 8), dtype=np.uint8)).shape == (2, 10)


def test_an_hf_hub_id_loads_without_being_added_first(tmp_path: Path, hub_cache, store) -> None:
    import securitynet

    _put_tiny_hub_repo(hub_cache, "someone/tiny-digits-vit")
    target = securitynet.load("hf-hub/someone/tiny-digits-vit", store=store, device="cpu")
    assert target.predict_proba(np.zeros((2, 8, 8), dtype=np.uint8)).shape == (2, 10)
    assert store.get_card("hf-hub/someone/tiny-digits-vit").weights.sha256 is not None  # pinned on first fetch
