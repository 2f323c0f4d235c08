"""`securitynet serve`: a read-only Datasette on a snapshot of the store, with facets and canned queries."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from securitynet.serve.metadata import DATABASE, MODEL_FACETS
from securitynet.serve.server import ServeError, datasette_command, prepare, resolve_report_dir
from securitynet.store import JobRecord, Store
from securitynet.store.schema import metadata as schema_metadata

KNOWN_RESULTS = Path(__file__).resolve().parent.parent / "analysis" / "conftest.py"


def _known_results():
    """The analysis tests' store of known results (loaded by path: test folders are not packages)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("securitynet_known_results", KNOWN_RESULTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def filled_store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    _known_results().populate(store, tmp_path / "artifacts")
    return store


def _query(path: Path, sql: str, params: dict | None = None) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params or {}).fetchall()
    finally:
        conn.close()


def test_snapshot_copies_every_table_and_the_canned_queries_run(filled_store, tmp_path) -> None:
    snapshot, metadata_path = prepare(filled_store, folder=tmp_path / "serve")
    for table in schema_metadata.sorted_tables:
        with filled_store.engine.connect() as conn:
            expected = conn.exec_driver_sql(f"SELECT count(*) FROM {table.name}").scalar()
        assert _query(snapshot, f"SELECT count(*) FROM {table.name}")[0][0] == expected, table.name
    assert not list(snapshot.parent.glob("*.tmp")) and not Path(f"{snapshot}-wal").exists()

    metadata = json.loads(metadata_path.read_text())
    database = metadata["databases"][DATABASE]
    assert database["tables"]["models"]["facets"] == MODEL_FACETS
    queries = database["queries"]
    assert {"published_vs_measured", "most_exposed", "most_exposed_mia_correctness",
            "most_exposed_stealing_knockoff", "most_exposed_backdoor_neural_cleanse"} <= set(queries)

    exposed = _query(snapshot, queries["most_exposed_mia_correctness"]["sql"])
    assert exposed[0]["model_id"] == "test/m5" and exposed[0]["seeds"] == 2  # largest gap, largest AUC

    rows = {(r["published_model"], r["attack"], r["metric"]): r
            for r in _query(snapshot, queries["published_vs_measured"]["sql"])}
    auc = rows[("securitynet/digits/m1", "mia.correctness", "auc")]
    assert auc["measured_model"] == "test/m1"
    assert auc["measured"] == pytest.approx(0.5 + 0.03 / 2 + 0.0005)
    assert auc["difference"] == pytest.approx(auc["measured"] - 0.55)
    steal = [r for key, r in rows.items() if key[1] == "stealing.knockoff" and key[2] == "accuracy"]
    assert len(steal) == 1 and steal[0]["measured"] == pytest.approx(0.87)  # the WRN run is another column
    assert rows[("securitynet/digits/m1", "annotation.accuracy", "test_accuracy")]["published"] == pytest.approx(0.9)
    assert not any(key[0] == "securitynet/cifar10/resnet20" for key in rows)  # nothing measured for it

    generic = _query(snapshot, queries["most_exposed"]["sql"], {"attack": "mia.loss", "metric": "auc"})
    assert [r["model_id"] for r in generic][:2] == ["test/m5", "test/m3"]


def test_most_exposed_queries_rank_by_what_each_attack_declares(filled_store, tmp_path) -> None:
    filled_store.record_jobs([JobRecord(model_id=f"test/m{i}", weight_hash=None, attack=name, attack_version="1",
                                        params={}, seed=0, metrics={"auc": 0.5 + i / 100, "advantage": 0.1 * i})
                              for i in range(2) for name in ("plugin.declared", "plugin.undeclared")])
    filled_store.record_attacks([{"name": "plugin.declared", "version": "1", "family": "membership",
                                  "headline_metrics": ["advantage", "auc"], "score_metrics": []}])
    queries = json.loads(prepare(filled_store, folder=tmp_path / "serve")[1].read_text())["databases"][DATABASE][
        "queries"]
    assert "AS advantage" in queries["most_exposed_plugin_declared"]["sql"]  # its first headline metric
    assert "AS auc" in queries["most_exposed_plugin_undeclared"]["sql"]  # not declared: the fixed order
    # Neural Cleanse stored only anomaly_index here: none of its headline metrics, so its declared score
    assert "AS anomaly_index" in queries["most_exposed_backdoor_neural_cleanse"]["sql"]
    assert not any("annotation" in name for name in queries)  # annotation measures no exposure


def test_snapshot_of_a_running_store_is_consistent_and_then_frozen(filled_store, tmp_path) -> None:
    snapshot, _ = prepare(filled_store, folder=tmp_path / "serve")
    before = _query(snapshot, "SELECT count(*) FROM results")[0][0]
    filled_store.record_job(JobRecord(model_id="test/m0", weight_hash=None, attack="mia.extra", attack_version="1",
                                      params={}, seed=0, metrics={"auc": 0.6}))
    assert _query(snapshot, "SELECT count(*) FROM results")[0][0] == before
    again, _ = prepare(filled_store, folder=tmp_path / "serve")
    assert _query(again, "SELECT count(*) FROM results")[0][0] == before + 1


def test_datasette_runs_immutable_with_the_report_mounted(tmp_path) -> None:
    report = tmp_path / "report"
    with pytest.raises(ServeError, match="has no report.html"):
        resolve_report_dir(report)
    report.mkdir()
    (report / "report.html").write_text("<html></html>")
    command = datasette_command(tmp_path / "s.db", tmp_path / "m.json", host="127.0.0.1", port=1234,
                                report_dir=resolve_report_dir(report))
    assert command[command.index("-i") + 1] == str(tmp_path / "s.db")
    assert f"report:{report}" in command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"securitynet serve exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"securitynet serve did not answer {url} within {timeout} s")


@pytest.mark.slow
def test_serve_in_headless_chromium_shows_the_faceted_models(filled_store, tmp_path, chromium, test_artifacts) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("<!DOCTYPE html><html><body><h1 id='r'>the report</h1></body></html>")
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "securitynet"), "--db", filled_store.url, "serve", "--host", "127.0.0.1",
         "--port", str(port), "--report", str(report), "--folder", str(tmp_path / "serve")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/-/versions.json", process)
        page = f"{base}/{DATABASE}/models?purpose=benchmark"
        dom = chromium.dump_dom(page, budget_ms=3000)
        facets = re.findall(r'class="facet-info facet-[^"]*" id="facet-([a-z_]+)"', dom)
        assert set(facets) == set(MODEL_FACETS), facets
        # three measured benchmark models and the two published cards
        assert re.search(r"\b5 rows where purpose = .benchmark.", dom), "wrong row count on the filtered page"
        dataset_facet = dom.split('id="facet-dataset"')[1].split("</ul>")[0]
        counts = dict(re.findall(r">([a-z0-9]+)</a>\s*([0-9]+)", dataset_facet))
        assert counts == {"digits": "4", "cifar10": "1"}, dataset_facet
        assert "Models" in dom and "Unknown values are empty, never 0" in dom
        home = chromium.dump_dom(f"{base}/")
        assert "/report/report.html" in home
        with urllib.request.urlopen(f"{base}/report/report.html", timeout=10) as response:
            assert b"the report" in response.read()
        with urllib.request.urlopen(f"{base}/{DATABASE}/published_vs_measured.json?_shape=array", timeout=30) as r:
            rows = json.loads(r.read())
        assert any(row["published_model"] == "securitynet/digits/m1" for row in rows)
        shot = chromium.screenshot(page, test_artifacts / "datasette-models-faceted.png")
        assert shot.stat().st_size > 10_000
        # read-only: the snapshot is opened immutable, never the store itself
        with urllib.request.urlopen(f"{base}/-/databases.json", timeout=10) as response:
            databases = json.loads(response.read())
        assert [(d["name"], d["is_mutable"]) for d in databases] == [(DATABASE, False)]
        assert databases[0]["path"] != str(filled_store.engine.url.database)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
