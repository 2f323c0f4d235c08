"""Annotation: train/test accuracy and overfit gap, measured on the right splits, stored with provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from securitynet.annotation import (
    ANNOTATION_ATTACK,
    ANNOTATION_VERSION,
    annotate,
    annotate_models,
    published_values,
)
from securitynet.catalog.card import InputSpec, ModelCard, PublishedAnnotation, WeightsSpec
from securitynet.cli.annotate import annotation_table
from securitynet.data import load_split
from securitynet.store import JobRecord, Store
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.loader import load_target
from securitynet.zoo.weights import sha256_file

DIGITS_ARCH = {"in_features": 64, "hidden": 64}


@pytest.fixture(scope="module")
def digits_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLP trained to near-memorisation on the 898 digits training images (seconds on a CPU)."""
    torch.manual_seed(0)
    train = load_split("digits", "train")
    x = torch.from_numpy(np.asarray(train.images, dtype=np.float32) / 255).reshape(len(train), -1)
    y = torch.tensor(train.labels)
    model = build_architecture("mlp_cs612", 10, **DIGITS_ARCH)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    folder = tmp_path_factory.mktemp("mirror")
    torch.save(model.state_dict(), folder / "digits_mlp.pt")
    return folder / "digits_mlp.pt"


@pytest.fixture
def digits_card(digits_weights: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModelCard:
    monkeypatch.setenv("SECURITYNET_MIRROR", str(digits_weights.parent))
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    return ModelCard(
        id="test/digits_mlp", name="digits_mlp", source="file", architecture="mlp_cs612", arch_kwargs=DIGITS_ARCH,
        dataset="digits", num_classes=10, train_size=898, training_split="train",
        input=InputSpec(channels=1, size=(8, 8)),
        weights=WeightsSpec(filename=digits_weights.name, sha256=sha256_file(digits_weights)),
        published=PublishedAnnotation(test_accuracy=0.9, source="test fixture"),
    )


def _direct_accuracy(card: ModelCard, split: str) -> float:
    data = load_split("digits", split)
    return float((load_target(card, device="cpu").predict(data.images) == data.labels).mean())


def test_annotation_measures_the_right_splits_and_stores_them_with_provenance(digits_card, store: Store) -> None:
    run = annotate_models([digits_card], store, device="cpu")
    (row,) = run.rows
    assert row.status == "done" and row.member_split == "train" and (row.n_member, row.n_test) == (898, 899)
    train, test = _direct_accuracy(digits_card, "train"), _direct_accuracy(digits_card, "test")
    assert train > test  # the fixture memorised its training images: the gap must show it
    frame = store.results_frame(model_ids=["test/digits_mlp"])
    values = dict(zip(frame.metric, frame.value, strict=True))
    # Exactly the numbers of the model's own predictions (the engine's posterior cache changes nothing).
    assert values["train_accuracy"] == train and values["test_accuracy"] == test
    assert values["overfit_gap"] == train - test
    assert (values["num_classes"], values["train_size"]) == (10, 898)
    job = frame.iloc[0]
    assert job.attack == ANNOTATION_ATTACK == "annotation.accuracy" and job.attack_version == ANNOTATION_VERSION
    assert job.run_id == run.run_id and job.weight_hash == digits_card.weight_hash and job.seed == 0
    # The key holds what was asked; what it resolved to is in the job's data.
    assert job.params_json == {"member_split": None, "test_split": None, "max_images": None}
    measured = job.data_json["attack"]
    assert measured["resolved"]["member_split"] == "train" and measured["resolved"]["test_split"] == "test"
    assert (measured["resolved"]["n_member"], measured["resolved"]["n_test"]) == (898, 899)
    splits = measured["splits"]
    assert splits["member"]["fingerprint"] == load_split("digits", "train").fingerprint()
    assert splits["test"]["fingerprint"] == load_split("digits", "test").fingerprint()
    assert measured["dataset"] == "digits" and measured["n_images"] == 898 + 899
    assert store.get_card("test/digits_mlp").id == "test/digits_mlp"  # results join a catalogued model


def test_rerun_is_skipped_unless_forced(digits_card, store: Store) -> None:
    first = annotate_models([digits_card], store, device="cpu").rows[0]
    again = annotate_models([digits_card], store, device="cpu")
    assert again.rows[0].status == "skipped" and again.run_id is None  # nothing ran
    assert again.rows[0].metrics == first.metrics and again.rows[0].n_member == first.n_member == 898
    forced = annotate_models([digits_card], store, device="cpu", force=True).rows[0]
    assert forced.status == "done" and forced.metrics == first.metrics
    assert len(store.jobs_frame()) == 1  # the same job key is replaced, never duplicated
    # Measured again from the engine's posterior cache: both splits were predicted by the first run.
    cache = store.jobs_frame().data_json.iloc[0]["posterior_cache"]
    assert (cache["disk_hits"], cache["misses"]) == (2, 0)


def test_a_failing_model_is_recorded_and_the_others_continue(digits_card, store: Store) -> None:
    broken = digits_card.model_copy(update={
        "id": "test/broken", "weights": digits_card.weights.model_copy(update={"sha256": "0" * 64})})
    rows = annotate_models([broken, digits_card], store, device="cpu").rows
    assert [row.status for row in rows] == ["failed", "done"]
    assert "ChecksumError" in rows[0].error
    failed = store.jobs_frame(status="failed")
    assert failed.model_id.tolist() == ["test/broken"] and "sha256" in failed.error.iloc[0]
    assert set(store.results_frame().model_id) == {"test/digits_mlp"}


def test_logits_declared_as_probabilities_fail_the_annotation_and_store_nothing(digits_card, store: Store) -> None:
    misdeclared = digits_card.model_copy(update={"id": "test/says_probabilities", "output_kind": "probabilities"})
    rows = annotate_models([misdeclared, digits_card], store, device="cpu").rows
    assert [row.status for row in rows] == ["failed", "done"]
    assert rows[0].error.startswith(
        "OutputCheckError: model test/says_probabilities: declared probabilities are outside [0, 1]")
    failed = store.jobs_frame(status="failed")
    assert failed.model_id.tolist() == ["test/says_probabilities"] and "\n" not in failed.error.iloc[0]
    assert set(store.results_frame().model_id) == {"test/digits_mlp"}


def test_unknown_training_size_is_missing_not_zero(digits_card, store: Store) -> None:
    card = digits_card.model_copy(update={"id": "test/no_size", "train_size": None})
    annotate_models([card], store, device="cpu", max_images=200)
    frame = store.results_frame(model_ids=["test/no_size"]).set_index("metric")
    assert frame.loc["train_size", "value"] is None or np.isnan(frame.loc["train_size", "value"])
    assert "unknown" in frame.loc["train_size", "missing_reason"]
    assert frame.loc["test_accuracy", "value"] is not None
    job = store.results_frame(model_ids=["test/no_size"]).iloc[0]
    assert job.params_json["max_images"] == 200
    resolved = job.data_json["attack"]["resolved"]
    assert resolved["n_member"] == 200 and resolved["subset_seed"] == 0


def test_max_images_is_a_seeded_subset_of_the_split(digits_card) -> None:
    target = load_target(digits_card, device="cpu")
    a = annotate(target, max_images=300)
    b = annotate(target, max_images=300)
    assert a.metrics == b.metrics and a.data == b.data
    assert a.data["resolved"]["n_member"] == a.data["resolved"]["n_test"] == 300
    assert a.data["splits"]["member"]["fingerprint"] != load_split("digits", "train").fingerprint()


def test_published_values_come_from_the_card_and_the_store(digits_card, store: Store) -> None:
    store.upsert_card(digits_card)
    store.record_job(JobRecord(
        model_id=digits_card.id, weight_hash=None, attack="published", attack_version="1", params={}, seed=None,
        metrics={"train_accuracy": 0.99, "test_accuracy": 0.5}, origin="published:test-table"))
    values, source = published_values(digits_card, store)
    assert values == {"train_accuracy": 0.99, "test_accuracy": 0.9, "overfit_gap": None}  # the card's value wins
    assert source == "test fixture; published:test-table"
    rows = annotate_models([digits_card], store, device="cpu").rows
    console = Console(record=True, width=250)
    console.print(annotation_table(rows))
    text = console.export_text()
    measured = rows[0].metrics["test_accuracy"]
    assert f"{100 * measured:.2f}" in text and "90.00" in text and "99.00" in text
    assert f"{100 * (measured - 0.9):+.2f}" in text


@pytest.mark.slow
def test_public_mnist_model_annotation_records_the_member_pool(shared_data: Path, monkeypatch, store) -> None:
    from securitynet.catalog.sources.yaml_cards import iter_cards

    monkeypatch.setenv("SECURITYNET_MIRROR", str(shared_data / "models" / "mnist"))
    card = next(c for c in iter_cards() if c.id == "file/mlp_backdoored_cs612")
    (row,) = annotate_models([card], store, device="cpu").rows
    assert row.status == "done", row.error
    assert row.metrics["test_accuracy"] == pytest.approx(card.published.test_accuracy, abs=0.001)
    job = store.results_frame(model_ids=[card.id]).iloc[0]
    member = job.data_json["attack"]["splits"]["member"]
    assert member["split"] in ("train", "train_subset_5k") and member["n"] == row.n_member
    assert member["split"] in job.data_json["attack"]["member_pool"]
    assert row.n_test == 10_000 and row.metrics["train_size"] == 60_000


def test_cli_annotates_a_query_and_keeps_going_past_a_failure(digits_card, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from securitynet.cli import app

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    broken = digits_card.model_copy(update={
        "id": "test/broken", "weights": digits_card.weights.model_copy(update={"sha256": "0" * 64})})
    Store(url).upsert_cards([broken, digits_card])
    result = CliRunner().invoke(app, ["--db", url, "annotate", "test/*", "--device", "cpu"], env={"COLUMNS": "160"})
    assert result.exit_code == 1, result.output  # one model failed: the command says so ...
    assert "test/broken failed" in result.output and "ChecksumError" in result.output
    assert "1 measured" in result.output and "1 failed" in result.output
    store = Store(url)
    assert set(store.results_frame().model_id) == {"test/digits_mlp"}  # ... after annotating the other one
    assert "(90.00)" in result.output  # the published value beside the measured one
    runs = store.jobs_frame().run_id.dropna().unique()
    (recorded,) = store.runs_overview()  # one engine run, finished although one of its jobs failed
    assert list(runs) == [recorded["id"]] and recorded["status"] == "finished" and recorded["jobs_failed"] == 1

    nothing = CliRunner().invoke(app, ["--db", url, "annotate", "nomatch/*"])
    assert nothing.exit_code == 1 and "no model card matches" in nothing.output


def test_subset_trained_model_uses_only_its_training_images_as_members(tmp_path: Path, monkeypatch) -> None:
    """A model trained on 60 of the 898 digits training images: its member pool is those 60, not the split."""
    from securitynet.annotation import resolve_splits
    from securitynet.zoo.digits_zoo import ARCHITECTURES
    from securitynet.zoo.selftrained import SelfTrainedRecipe, train_selftrained
    from securitynet.zoo.train import TrainRecipe

    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    recipe = SelfTrainedRecipe(
        card_id="test/digits-subset", dataset="digits", architecture="mlp", arch_kwargs=ARCHITECTURES["mlp"],
        train_size=60,
        train=TrainRecipe(epochs=100, optimizer="adam", lr=1e-2, weight_decay=0.0, batch_size=60),
    )
    card = train_selftrained(recipe).card
    splits = resolve_splits(card)
    assert len(splits.member) == 60
    assert sorted(splits.member.indices.tolist()) == sorted(card.training_indices)
    result = annotate(load_target(card, device="cpu")).metrics
    # Memorised its 60 images; the full split would have diluted train accuracy towards test accuracy.
    assert result["train_accuracy"] == pytest.approx(1.0)
    assert result["overfit_gap"] > 0.1
