"""End to end over the public MNIST models: a NaN model, a card declaring probabilities for a model that
returns logits, and a card with an input size the architecture refuses each fail their jobs with one line;
every other job's numbers are those of a run without them."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
import torch

import securitynet
from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import yaml_cards
from securitynet.store import Store
from securitynet.zoo.weights import sha256_file

PUBLIC = (
    "file/lenet5_advertorch_clean",
    "file/lenet5_advertorch_advtrained",
    "file/mnistnet_shrinkbench",
    "file/badnet_verazuo_mnist",
    "file/mlp_backdoored_cs612",
)
ATTACKS = "mia.correctness,mia.loss"
PARAMS = {"mia.correctness": {"n": 200}, "mia.loss": {"n": 200, "threshold_source": "partial"}}


@pytest.fixture
def offline(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    public = shared_data / "models" / "mnist"
    if not public.is_dir():
        pytest.skip(f"{public} is absent")
    own = tmp_path / "mirror"
    own.mkdir()
    monkeypatch.setenv("SECURITYNET_MIRROR", f"{own}:{public}")
    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("tried the network"))
    return own


def _untrustworthy(clean: ModelCard, public: Path, own: Path) -> list[ModelCard]:
    state = torch.load(public / clean.weights.filename, map_location="cpu", weights_only=True)
    last_bias = [name for name in state if name.endswith("bias")][-1]
    state[last_bias] = torch.full_like(state[last_bias], float("nan"))  # weights saved after training diverged
    nan_file = own / "lenet5_nan.pt"
    torch.save(state, nan_file)
    nan_weights = clean.weights.model_copy(update={"filename": nan_file.name, "sha256": sha256_file(nan_file),
                                                   "size_bytes": nan_file.stat().st_size, "urls": []})
    return [
        clean.model_copy(update={"id": "file/lenet5_nan", "name": "lenet5_nan", "weights": nan_weights}),
        clean.model_copy(update={"id": "file/lenet5_says_probabilities", "output_kind": "probabilities"}),
        clean.model_copy(update={"id": "file/lenet5_32px",
                                 "input": clean.input.model_copy(update={"size": (32, 32)})}),
    ]


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["model_id", "attack", "seed", "metric"]
    return frame[[*keys, "value", "missing_reason"]].sort_values(keys).reset_index(drop=True)


@pytest.mark.slow
def test_three_untrustworthy_models_fail_alone_and_change_no_other_number(
    offline: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = {card.id: card for card in yaml_cards.iter_cards() if card.id in PUBLIC}
    assert sorted(cards) == sorted(PUBLIC)
    good = [cards[i] for i in PUBLIC]
    bad = _untrustworthy(cards["file/lenet5_advertorch_clean"], shared_data / "models" / "mnist", offline)

    runs = {}
    for name, models in (("without", good), ("with", [*good[:2], *bad, *good[2:]])):
        monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / f"cache-{name}"))  # no posterior shared
        store = Store(str(tmp_path / f"{name}.sqlite"))
        runs[name] = (securitynet.evaluate(models, ATTACKS, store=store, params=PARAMS), store)

    without, _ = runs["without"]
    with_bad, store = runs["with"]
    assert without.attrs["failed"] == []
    failed = {(f["model_id"], f["attack"]): f["error"] for f in with_bad.attrs["failed"]}
    assert sorted({model for model, _ in failed}) == sorted(card.id for card in bad)
    assert len(failed) == 3 * 2  # every job of the three, none of the others
    for (model, _attack), error in failed.items():
        assert "\n" not in error and model in error
    assert failed["file/lenet5_nan", "mia.loss"].startswith(
        "OutputCheckError: model file/lenet5_nan: outputs are not finite (")
    assert failed["file/lenet5_says_probabilities", "mia.correctness"].startswith(
        "OutputCheckError: model file/lenet5_says_probabilities: declared probabilities are outside [0, 1]")
    assert "input.size [32, 32]" in failed["file/lenet5_32px", "mia.correctness"]
    assert "mat1 and mat2" in failed["file/lenet5_32px", "mia.correctness"]

    jobs = store.jobs_frame()
    assert set(jobs[jobs.model_id.isin([c.id for c in bad])].status) == {"failed"}
    assert set(with_bad.model_id) == set(PUBLIC)  # no metric of a failed job is stored
    pd.testing.assert_frame_equal(_numbers(with_bad), _numbers(without))
    nan_cache = list((tmp_path / "cache-with").rglob("*.json"))
    assert not any("lenet5_nan" in p.read_text() or "says_probabilities" in p.read_text() for p in nan_cache)
