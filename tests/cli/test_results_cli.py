"""`securitynet results`, `catalog show` and `attacks list`: headline tables readable at 80 and 120 columns,
JSON and CSV that give back exactly the stored numbers."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

import securitynet
from securitynet.catalog.builtin import builtin_card
from securitynet.catalog.card import ModelCard
from securitynet.cli import app
from securitynet.store import JobRecord, Store

BADNET = "file/badnet_verazuo_mnist"
MLP = "file/mlp_backdoored_cs612"
LENET = "file/lenet5_advertorch_advtrained"
PUBLISHED = "securitynet/mnist/badnet_verazuo_mnist_published"
IN_DIST = {"query_set": "in-distribution", "surrogate": "small-cnn", "budget": 1000}
OOD = {"query_set": "out-of-distribution", "surrogate": "small-cnn", "budget": 1000}


def _job(model: str, attack: str, params: dict, seed: int | None, metrics: dict, **kw) -> JobRecord:
    return JobRecord(model_id=model, weight_hash=f"sha256:{model}", attack=attack, attack_version="1",
                     params=params, seed=seed, metrics=metrics, **kw)


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}"
    store = Store(url)
    builtin = {card_id: builtin_card(card_id) for card_id in (BADNET, MLP, LENET)}
    published = ModelCard(id=PUBLISHED, name="badnet", source="published", dataset="mnist", num_classes=10,
                          purpose="security", extra={"securitynet": {"same_as": BADNET}})
    store.upsert_cards([builtin[BADNET], builtin[MLP], builtin[LENET], published])
    jobs = []
    for model in (BADNET, MLP, LENET):
        for seed, (agree_in, agree_ood) in enumerate(((0.95, 0.61), (0.97, 0.65))):
            jobs.append(_job(model, "stealing.knockoff", IN_DIST, seed, {"agreement": agree_in, "accuracy": 0.9,
                                                                          "queries": 1000.0}))
            jobs.append(_job(model, "stealing.knockoff", OOD, seed, {"agreement": agree_ood, "accuracy": 0.5,
                                                                      "queries": 1000.0}))
        jobs.append(_job(model, "mia.loss", {"n": 500}, 0, {"auc": 0.52 if model != MLP else None,
                                                            "tpr_at_1pct_fpr": 0.011, "balanced_accuracy": 0.51},
                         missing_reasons={"auc": "test: not measured"} if model == MLP else {}))
        jobs.append(_job(model, "annotation.accuracy", {"max_images": None}, 0,
                         {"train_accuracy": 0.99, "test_accuracy": 0.97, "overfit_gap": 0.02}))
    jobs.append(_job(BADNET, "backdoor.neural_cleanse", {}, 0, {"flagged": 1.0, "score": 3.4, "suspected_target": 1.0,
                                                                "anomaly_index": 3.4}))
    jobs.append(JobRecord(model_id=PUBLISHED, weight_hash=None, attack="stealing.knockoff",
                          attack_version="securitynet-2024", params={"query_set": "in-distribution"}, seed=None,
                          metrics={"agreement": 0.88}, origin="published:securitynet-2024"))
    store.record_jobs(jobs)
    return url


def invoke(db: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


def _stored_means(db: str) -> dict[tuple[str, str, str, str], float | None]:
    """(model, attack, params hash, metric) -> the mean over seeds of the stored values, straight from the store."""
    frame = Store(db).results_frame()
    frame = frame[frame.origin == "measured"]
    means = frame.groupby(["model_id", "attack", "params_hash", "metric"]).value.mean()
    return {key: None if math.isnan(value) else float(value) for key, value in means.items()}


def test_json_and_csv_give_the_stored_numbers(db: str) -> None:
    stored = _stored_means(db)
    rows = json.loads(invoke(db, "results", "--models", "file/*", "--format", "json", "--all-metrics"))
    frame = pd.read_csv(io.StringIO(invoke(db, "results", "--models", "file/*", "--format", "csv", "--all-metrics")))
    assert len(rows) == len(frame) == 3 * 4 + 1  # 3 models x (2 stealing variants, mia, annotation) + NC
    seen = 0
    for row, csv_row in zip(rows, frame.to_dict("records"), strict=True):
        assert row["model_id"] == csv_row["model_id"] and row["model_id"].startswith("file/")  # full ids
        for (model, attack, phash, metric), value in stored.items():
            if (model, attack, phash) == (row["model_id"], row["attack"], row["params_hash"]):
                seen += 1
                assert row[metric] == pytest.approx(value) if value is not None else row[metric] is None
                assert (csv_row[metric] == pytest.approx(value)) if value is not None else math.isnan(csv_row[metric])
    assert seen == len(stored)
    badnet_in = next(r for r in rows if r["model_id"] == BADNET and r["params"] == IN_DIST)
    assert badnet_in["n_seeds"] == 2 and badnet_in["seeds"] == "0,1"
    assert badnet_in["published_agreement"] == pytest.approx(0.88)  # beside the variant it describes
    badnet_ood = next(r for r in rows if r["model_id"] == BADNET and r["params"] == OOD)
    assert badnet_ood["published_agreement"] is None


def test_python_api_returns_the_same_frame(db: str) -> None:
    frame = securitynet.results("file/*", "stealing.*", seeds="all", db=db)
    assert set(frame.attack) == {"stealing.knockoff"} and len(frame) == 3 * 2 * 2
    assert list(frame.columns[-3:]) == ["agreement", "published_agreement", "accuracy"]  # headline order
    assert "queries" not in frame.columns  # not a headline metric
    cli = json.loads(invoke(db, "results", "-m", "file/*", "-a", "stealing.*", "--seeds", "all", "--format", "json"))
    assert [r["agreement"] for r in cli] == pytest.approx(list(frame.agreement))
    assert sorted({r["variant"] for r in cli}) == ["query_set=in-distribution", "query_set=out-of-distribution"]


@pytest.mark.parametrize("width", [80, 120])
def test_results_table_is_readable(db: str, width: int, console_width, table_problems) -> None:
    console_width(width)
    text = invoke(db, "results", "--models", "file/*")
    headers = ["auc", "tpr@1%fpr", "agreement", "accuracy", "train acc", "test acc", "gap", "flagged", "target"]
    assert table_problems(text, width, [BADNET, MLP, LENET, "stealing.knockoff"], headers) == []
    assert "query_set=ood" in text and "query_set=in-dist" in text  # the variants are told apart
    assert "queries" not in text  # --all-metrics shows it
    assert "queries" in invoke(db, "results", "--models", "file/*", "--all-metrics")


@pytest.mark.parametrize("width", [80, 120])
def test_catalog_show_is_readable(db: str, width: int, console_width, table_problems) -> None:
    console_width(width)
    text = invoke(db, "catalog", "show", BADNET)
    tables = text.split("results stored for")[1]
    assert table_problems(tables, width, ["stealing.knockoff", "backdoor.neural_cleanse"],
                          ["agreement", "pub.", "flagged", "score", "target"]) == []
    stealing = [line for line in tables.splitlines() if "query_set=" in line]
    assert len(stealing) == 2 and "0.96" in stealing[0] + stealing[1]  # one row per variant, seeds averaged
    nc = next(line for line in tables.splitlines() if "yes" in line)
    assert nc.split()[-3:] == ["yes", "3.4", "1"]  # flagged, score, suspected target
    csv_rows = pd.read_csv(io.StringIO(invoke(db, "catalog", "show", BADNET, "--format", "csv")))
    assert len(csv_rows) == 2 * 2 + 1 + 1 + 1  # stealing per seed, mia, annotation, NC


@pytest.mark.parametrize("width", [80, 120])
def test_attacks_list_is_readable(width: int, console_width, table_problems) -> None:
    from securitynet.attacks import list_attacks

    console_width(width)
    text = CliRunner().invoke(app, ["attacks", "list"]).output
    names = [cls.name for cls in list_attacks()]
    assert table_problems(text, width, names, ["name", "version", "access", "headline metrics"]) == []
    listed = json.loads(CliRunner().invoke(app, ["attacks", "list", "--format", "json"]).output)
    assert next(a for a in listed if a["name"] == "mia.loss")["headline"] == ["auc", "tpr_at_1pct_fpr"]


def test_nothing_stored_says_so(db: str) -> None:
    assert "no results stored" in invoke(db, "results", "--models", "file/*", "--attacks", "mia.lira*")
    assert json.loads(invoke(db, "results", "--attacks", "mia.lira*", "--format", "json")) == []


def test_catalog_export_writes_to_standard_output(db: str) -> None:
    text = invoke(db, "catalog", "export", "--format", "csv", "--no-builtin", "--dataset", "mnist")
    assert set(pd.read_csv(io.StringIO(text)).id) == {BADNET, MLP, LENET, PUBLISHED}


@pytest.mark.slow
def test_json_survives_a_real_pipe(db: str) -> None:
    """`securitynet results --format json | python -c 'json.load(sys.stdin)'`: nothing but JSON on stdout."""
    import subprocess
    import sys

    command = [sys.executable, "-c", "import sys; from securitynet.cli import main; sys.argv[0] = 'securitynet'; "
               "main()", "--db", db, "results", "--models", "file/*", "--format", "json"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    reader = subprocess.run([sys.executable, "-c", "import json, sys; print(len(json.load(sys.stdin)))"],
                            input=out, check=True, capture_output=True, text=True)
    assert int(reader.stdout) == len(json.loads(invoke(db, "results", "--models", "file/*", "--format", "json")))
