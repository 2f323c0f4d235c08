"""`evaluate` and `annotate` output: tables readable at 80 and 120 columns, JSON / CSV / JSON lines for pipes."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.store import Store

runner = CliRunner()


@pytest.fixture
def db(tmp_path, tiny_cards, engine_env) -> str:
    url = str(tmp_path / "formats.sqlite")
    Store(url).upsert_cards(tiny_cards)
    return url


def _evaluate(db: str, *args: str):  # noqa: ANN202
    return runner.invoke(app, ["--db", db, "evaluate", "--models", "test/tiny_0,test/tiny_1", "--attacks",
                               "test.probe", "--seeds", "2", "--no-progress", *args])


def test_jsonl_prints_one_job_a_line_and_nothing_else(db: str) -> None:
    result = _evaluate(db, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    jobs = [json.loads(line) for line in lines]  # every line of standard output is one JSON object
    assert sorted((j["model_id"], j["seed"]) for j in jobs) == [
        ("test/tiny_0", 0), ("test/tiny_0", 1), ("test/tiny_1", 0), ("test/tiny_1", 1)]
    stored = Store(db).results_frame()
    for job in jobs:
        assert job["status"] == "done" and job["unmeasured"] is None
        value = stored[(stored.model_id == job["model_id"]) & (stored.seed == job["seed"])
                       & (stored.metric == "member_confidence")].value.item()
        assert job["member_confidence"] == pytest.approx(value)


def test_json_and_csv_carry_every_job(db: str) -> None:
    jobs = json.loads(_evaluate(db, "--format", "json").stdout)
    assert len(jobs) == 4 and {j["status"] for j in jobs} == {"done"}
    frame = pd.read_csv(io.StringIO(_evaluate(db, "--format", "csv", "--force").stdout))
    assert len(frame) == 4 and frame.unmeasured.isna().all() and frame.member_confidence.between(0, 1).all()
    plan = json.loads(_evaluate(db, "--dry-run", "--format", "json").stdout)
    assert [p["done"] for p in plan] == ["0, 1", "0, 1"] and plan[0]["pending"] is None


@pytest.mark.parametrize("width", [80, 120])
def test_evaluate_tables_are_readable(db: str, width: int, console_width, table_problems) -> None:
    console_width(width)
    plan = _evaluate(db, "--dry-run")
    assert table_problems(plan.output, width, ["test/tiny_0", "test/tiny_1", "test.probe"],
                          ["model", "attack", "pending seeds"]) == []
    run = _evaluate(db)
    assert run.exit_code == 0, run.output
    # test.probe declares no headline metrics: its table lists every metric, one a line.
    assert table_problems(run.output, width, ["test/tiny_0", "test/tiny_1"], ["model", "metric", "value"]) == []
    assert "member confidence" in run.output
    failed = _evaluate(db, "--force", "--param", "test.probe.fail=true")
    assert failed.exit_code == 1
    assert table_problems(failed.output, width, ["test/tiny_0"], ["model", "error"]) == []
    assert "probe asked to fail" in failed.output


@pytest.mark.parametrize("width", [80, 120])
def test_annotate_table_is_readable(db: str, width: int, console_width, table_problems) -> None:
    console_width(width)
    result = runner.invoke(app, ["--db", db, "annotate", "test/tiny_0", "test/tiny_2", "--device", "cpu",
                                 "--max-images", "200"])
    assert result.exit_code == 0, result.output
    assert table_problems(result.output, width, ["test/tiny_0", "test/tiny_2"],
                          ["model", "train", "test", "gap", "n train"]) == []
    rows = json.loads(runner.invoke(app, ["--db", db, "annotate", "test/tiny_0", "--device", "cpu", "--max-images",
                                          "200", "--format", "json"]).stdout)
    stored = Store(db).results_frame(model_ids=["test/tiny_0"])
    assert rows[0]["status"] == "skipped"  # stored by the first call
    assert rows[0]["test_accuracy"] == pytest.approx(stored[stored.metric == "test_accuracy"].value.item())
