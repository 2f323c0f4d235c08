"""`securitynet report`: files written, missing shown as missing, published beside measured, same on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from securitynet.analysis.report import ReportError, write_quickstart_report, write_report
from securitynet.catalog.sources.benchmark_layout import BENCHMARK_LAYOUT
from securitynet.cli import app
from securitynet.cli.report import select_model_ids
from securitynet.store import Store


@pytest.fixture(scope="module")
def report(tmp_path_factory, populate_store):
    """One report of the known results, shared by the tests that only read it (drawing takes seconds)."""
    folder = tmp_path_factory.mktemp("report")
    store = Store(f"sqlite:///{folder / 'results.sqlite'}")
    populate_store(store, folder / "artifacts")
    return write_report(store, folder / "report", BENCHMARK_LAYOUT, n_boot=200)


def test_report_writes_html_figures_tables_and_markdown(report) -> None:
    assert report.html.is_file() and report.markdown.is_file()
    assert set(report.figures) == {"membership_auc_vs_overfit_gap", "stealing_vs_test_accuracy", "attacks_per_dataset",
                                   "membership_roc_loglog", "backdoor_scores", "catalog"}
    for png, svg in report.figures.values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in svg.read_bytes()[:2000]
    page = report.html.read_text()
    assert page.count('<img class="figure"') == len(report.figures)
    assert 'src="data:image/png;base64,' in page and "<script src=" not in page  # self-contained
    for table_id in ("published-vs-measured", "membership-vs-gap", "securitynet-database", "metadata-correlations"):
        assert f'id="{table_id}"' in page
    assert not [p for p in report.out_dir.parent.iterdir() if p.name.startswith(".report.")]  # no staging left
    # only imported from the published table, never run here: the page says its family was taken from its name
    assert "Not declared in the store's attacks table" in page and "<code>mia.modified_entropy</code>" in page


def test_published_vs_measured_pairs_the_twin_and_keeps_unmeasured_as_missing(report) -> None:
    table = pd.read_csv(report.tables["published_vs_measured"])
    auc = table[(table.published_model == "securitynet/digits/m1") & (table.attack == "mia.correctness")].iloc[0]
    assert auc.measured_model == "test/m1"
    assert auc.measured == pytest.approx(0.5 + 0.03 / 2 + 0.0005)
    assert auc.difference == pytest.approx(auc.measured - 0.55)
    steal = table[(table.published_model == "securitynet/digits/m1") & (table.metric == "accuracy")]
    assert steal.published_column.tolist() == ["Model Stealing Accuracy"]  # the WRN run does not match this column
    assert steal.measured.tolist() == [pytest.approx(0.92 - 0.05)]
    unmeasured = table[table.published_model == "securitynet/cifar10/resnet20"]
    assert len(unmeasured) == 2 and unmeasured.measured.isna().all()
    # a value the published table marks as not computed is not a published value
    assert not (table.attack == "mia.modified_entropy").any()


def test_markdown_uses_the_published_layout_and_marks_origins(report) -> None:
    from securitynet.catalog.sources.published_table import COLUMNS

    lines = report.markdown.read_text().splitlines()
    header = next(line for line in lines if line.startswith("| Model Name"))
    assert [c.strip() for c in header.strip("|").split("|")] == list(COLUMNS["benchmark"])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in lines if line.startswith("| ") and not line.startswith("| Model Name")}
    columns = list(COLUMNS["benchmark"])
    m1 = dict(zip(columns, rows["m1"], strict=True))
    assert m1["Correct Auc"] == "**0.5155**"  # measured here, mean of two seeds
    assert m1["Test Accuracy"] == "**0.92**"
    assert m1["M_entropy AUC"] == "—"  # published as not computed, never measured
    assert m1["Conference"] == "NeurIPS" and m1["Paper Link"] == "[Link](https://example.org/paper)"
    resnet = dict(zip(columns, rows["resnet20"], strict=True))
    assert resnet["Correct Auc"] == "0.52" and resnet["Train Accuracy"] == "—"
    assert "test/m1" not in rows and len(rows) == 7  # the measured twin shares its published card's row
    m0 = dict(zip(columns, rows["m0"], strict=True))
    assert m0["Overfit Gap"] == "**0**"  # a measured zero is a value, bold; missing would be —


def test_html_shows_missing_as_dash_not_zero(report) -> None:
    page = report.html.read_text()
    assert 'class="missing"' in page
    table = page.split('id="securitynet-database"')[1].split("</table>")[0]
    assert "nan" not in table.lower().replace("nanmean", "")


@pytest.mark.slow
def test_models_query_selects_a_subset(results_store, tmp_path) -> None:
    chosen = select_model_ids(results_store, "family=cnn")
    report = write_report(results_store, tmp_path / "subset", BENCHMARK_LAYOUT, model_ids=chosen,
                          selection="family=cnn", n_boot=100)
    models = pd.read_csv(report.tables["models"])
    assert set(models.model_id) == {"test/m3", "test/m4", "test/m5"}
    assert "family=cnn" in report.html.read_text()
    with pytest.raises(ReportError, match="no model in the store"):
        select_model_ids(results_store, "dataset=imagenet")
    result = CliRunner().invoke(app, ["--db", results_store.url, "report", "--out", str(tmp_path / "none"),
                                      "--models", "dataset=imagenet"])
    assert result.exit_code != 0 and "no model in the store" in result.output
    assert not (tmp_path / "none").exists()


def test_destination_that_is_a_file_is_refused(results_store, tmp_path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")
    with pytest.raises(ReportError, match="not a folder"):
        write_report(results_store, target, BENCHMARK_LAYOUT)
    assert target.read_text() == "keep me"


def test_empty_store_gets_a_report_that_says_why(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    from rich.console import Console

    console = Console(record=True, width=200)
    # the hook `make run` ends with
    path = write_quickstart_report(store, tmp_path / "quickstart", BENCHMARK_LAYOUT, console=console)
    printed = console.export_text()
    assert f"report: {path}" in printed and "securitynet serve --report" in printed
    assert path == (tmp_path / "quickstart" / "report.html").resolve()
    page = path.read_text()
    assert page.count("Not drawn:") == 6 and '<img class="figure"' not in page
    assert "no membership AUC stored" in page


@pytest.mark.slow
def test_cli_prints_the_spearman_correlation(results_store, tmp_path) -> None:
    result = CliRunner().invoke(app, ["--db", results_store.url, "report", "--out", str(tmp_path / "cli"),
                                      "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    assert "membership AUC vs overfit gap (mia.correctness): Spearman rho = 1.000" in result.output
    assert (tmp_path / "cli" / "report.html").is_file()


def test_analysis_never_imports_torch() -> None:
    code = ("import sys, securitynet.analysis.report, securitynet.serve.server; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_report_is_the_same_from_sqlite_and_postgresql(postgres_url, populate_store, tmp_path: Path) -> None:
    reports = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'same.sqlite'}"), ("postgresql", postgres_url)):
        store = Store(url)
        populate_store(store, tmp_path / "artifacts")
        reports[name] = write_report(store, tmp_path / name, BENCHMARK_LAYOUT, n_boot=200)
        store.engine.dispose()
    sqlite, postgres = reports["sqlite"], reports["postgresql"]
    assert sqlite.tables.keys() == postgres.tables.keys()
    for name in sqlite.tables:
        assert sqlite.tables[name].read_bytes() == postgres.tables[name].read_bytes(), name
    assert sqlite.markdown.read_text() == postgres.markdown.read_text()
    assert sqlite.membership_gap_lines() == postgres.membership_gap_lines()
