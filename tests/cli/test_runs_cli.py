"""`securitynet runs list`: state and job counts of every run; a run whose process is gone shows as interrupted."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.store import JobRecord, Store, opening

from .conftest import readability_problems


def _job(run_id: str, attack: str, status: str = "done") -> JobRecord:
    return JobRecord(model_id="m/one", weight_hash="abc", attack=attack, attack_version="1", params={}, seed=0,
                     status=status, metrics={"auc": 0.7} if status == "done" else {},
                     error=None if status == "done" else "diverged", run_id=run_id)


def _store_with_runs(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    store = Store(url)
    killed = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that is gone (reaped, so no zombie)
    killed.wait()
    store.start_run("run-killed-by-sigkill-with-a-long-name", command="securitynet evaluate", executor="local",
                    host=platform.node(), software_version="0.1.0", pid=killed.pid)
    store.start_run("run-finished", command="securitynet evaluate", executor="local", host=platform.node(),
                    software_version="0.1.0", pid=killed.pid)
    store.record_jobs([_job("run-finished", "mia.loss"), _job("run-finished", "mia.correctness"),
                       _job("run-finished", "stealing.knockoff", status="failed"),
                       _job("run-killed-by-sigkill-with-a-long-name", "mia.lira")])
    store.finish_run("run-finished")
    # Close every connection now: the last one to close checkpoints SQLite's write-ahead log into the file, which
    # must not happen later, whenever garbage collection gets to the store (the read-only test compares bytes).
    store.engine.dispose()
    return url


def test_a_run_whose_process_is_gone_is_listed_as_interrupted_with_job_counts(tmp_path: Path) -> None:
    url = _store_with_runs(tmp_path)
    result = CliRunner().invoke(app, ["--db", url, "runs", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    runs = {row["id"]: row for row in json.loads(result.stdout)}
    killed, finished = runs["run-killed-by-sigkill-with-a-long-name"], runs["run-finished"]
    assert (killed["status"], killed["jobs_done"], killed["jobs_failed"]) == ("interrupted", 1, 0)
    assert (finished["status"], finished["jobs_done"], finished["jobs_failed"], finished["jobs"]) == \
        ("finished", 2, 1, 3)
    assert "marked interrupted" in result.stderr and "run-killed-by-sigkill" in result.stderr
    # the store itself now says so: a later reader needs no process check
    assert {r["id"]: r["status"] for r in Store(url).runs_overview()}["run-killed-by-sigkill-with-a-long-name"] \
        == "interrupted"


def test_runs_table_fits_80_columns_and_csv_has_every_field(tmp_path: Path, console_width) -> None:
    url = _store_with_runs(tmp_path)
    console_width(80)
    table = CliRunner().invoke(app, ["--db", url, "runs", "list"])
    assert table.exit_code == 0, table.output
    ids = ["run-killed-by-sigkill-with-a-long-name", "run-finished"]
    assert readability_problems(table.stdout, 80, ids, ["run", "state", "started", "done", "failed"]) == []
    assert "interrupted" in table.stdout and "finished" in table.stdout
    rows = list(csv.DictReader(io.StringIO(
        CliRunner().invoke(app, ["--db", url, "runs", "list", "--format", "csv", "--limit", "1"]).stdout)))
    assert len(rows) == 1 and {"id", "status", "jobs_done", "jobs_failed", "pid", "command"} <= set(rows[0])


def test_an_empty_store_lists_no_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 'empty.sqlite'}", "runs", "list"])
    assert result.exit_code == 0 and "no run recorded yet" in result.stdout


def test_runs_list_on_a_read_only_database_shows_the_killed_run_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _store_with_runs(tmp_path)
    path = tmp_path / "runs.sqlite"
    before = path.read_bytes()
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user would
        real_access = os.access
        monkeypatch.setattr(opening.os, "access", lambda p, mode: False if mode & os.W_OK else real_access(p, mode))
    try:
        result = CliRunner().invoke(app, ["--db", url, "runs", "list", "--format", "json"])
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
    assert result.exit_code == 0, result.output
    status = {row["id"]: row["status"] for row in json.loads(result.stdout)}
    assert status["run-killed-by-sigkill-with-a-long-name"] == "interrupted"
    assert "not saved: the database is read-only" in " ".join(result.stderr.split())
    assert path.read_bytes() == before
