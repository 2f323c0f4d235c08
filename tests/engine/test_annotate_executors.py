"""`securitynet annotate` on every executor: the same jobs and numbers in-process, in a process pool and on Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.store import Store


def _annotate(tmp_path: Path, name: str, cards, *options: str) -> tuple[list[dict], pd.DataFrame]:
    url = f"sqlite:///{tmp_path / f'{name}.sqlite'}"
    Store(url).upsert_cards(cards)
    result = CliRunner().invoke(app, ["--db", url, "annotate", "test/tiny_*", "--device", "cpu", "--max-images",
                                      "300", "--no-progress", "--format", "json", *options])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    jobs = Store(url).jobs_frame().sort_values("model_id").reset_index(drop=True)
    return rows, jobs


def _assert_same_as_in_process(tmp_path: Path, cards, executor: str, *options: str) -> None:
    local_rows, local_jobs = _annotate(tmp_path, "local", cards)
    rows, jobs = _annotate(tmp_path, executor, cards, "--executor", executor, *options)
    assert [r["status"] for r in rows] == ["done"] * len(cards)
    assert list(jobs.attack.unique()) == ["annotation.accuracy"] and set(jobs.status) == {"done"}
    assert jobs.job_key.tolist() == local_jobs.job_key.tolist()  # the same jobs, wherever they ran
    measured = ("train_accuracy", "test_accuracy", "overfit_gap", "num_classes", "n_member", "n_test")
    assert [{k: r[k] for k in measured} for r in rows] == [{k: r[k] for k in measured} for r in local_rows]
    assert {d["environment"]["executor"] for d in jobs.data_json} == {executor}
    assert [d["attack"]["splits"] for d in jobs.data_json] == [d["attack"]["splits"] for d in local_jobs.data_json]


@pytest.mark.slow
def test_annotate_on_a_process_pool_matches_in_process(tmp_path: Path, tiny_cards) -> None:
    _assert_same_as_in_process(tmp_path, tiny_cards, "process", "--workers", "2")


@pytest.mark.slow
def test_annotate_on_ray_matches_in_process(tmp_path: Path, tiny_cards) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'securitynet[ray]')")
    _assert_same_as_in_process(tmp_path, tiny_cards, "ray", "--workers", "2")
