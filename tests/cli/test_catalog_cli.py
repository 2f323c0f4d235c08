"""`securitynet catalog list|show|export|import-securitynet|register` through the real Typer app."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from securitynet.catalog import sources
from securitynet.catalog.sources.published_table import parse_securitynet_database
from securitynet.cli import app
from securitynet.store import Store

README = "reference/securitynet_database_README.md"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the real published table, imported once through the CLI."""
    from securitynet import config

    shared = config.shared_data_dir()
    if shared is None or not (shared / README).is_file():
        pytest.skip("../shared/data/reference/securitynet_database_README.md is absent")
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'db.sqlite'}"
    result = CliRunner().invoke(app, ["--db", url, "catalog", "import-securitynet", str(shared / README)])
    assert result.exit_code == 0, result.output
    return url


def run(db: str, *args: str):  # noqa: ANN201
    result = CliRunner().invoke(app, ["--db", db, "catalog", *args])
    assert result.exit_code == 0, result.output
    return result


def test_import_prints_counts_and_missing_reasons(db: str) -> None:
    # Importing again through the CLI: same counts, nothing duplicated.
    from securitynet import config

    out = run(db, "import-securitynet", str(config.shared_data_dir() / README)).output
    assert "benchmark models" in out and "437" in out and "92" in out
    assert "not computed for MedMNIST models" in out and "placeholder" in out
    assert len(Store(db).model_ids()) == 529


def test_list_filters_and_formats(db: str) -> None:
    csv = run(db, "list", "--no-builtin", "--dataset", "CIFAR10", "--purpose", "security", "--format", "csv").output
    frame = pd.read_csv(io.StringIO(csv))
    assert len(frame) == 72 and set(frame.dataset) == {"cifar10"} and set(frame.purpose) == {"security"}
    assert frame.id.is_unique

    cards = json.loads(run(db, "list", "--no-builtin", "--venue", "eccv", "--year", "2016", "--format",
                           "json").output)
    assert cards and all(c["paper"]["venue"] == "ECCV" and c["paper"]["year"] == 2016 for c in cards)

    medical = pd.read_csv(io.StringIO(run(db, "list", "--no-builtin", "--dataset", "bloodmnist", "--architecture",
                                          "resnet", "--format", "csv").output))
    assert len(medical) == 6 and medical.published_train_accuracy.isna().all()

    table = run(db, "list", "--no-builtin", "--family", "wrn", "--dataset", "svhn").output
    assert "securitynet/svhn/" in table and "wrn16_10_svhn" in table and "model card(s)" in table  # wrapped at /

    nothing = json.loads(run(db, "list", "--no-builtin", "--source", "pytorchcv", "--format", "json").output)
    assert nothing == []

    # the options are filters of the one selection language, which list also takes as a query
    as_query = pd.read_csv(io.StringIO(run(db, "list", "--no-builtin", "dataset=cifar10", "purpose=security",
                                           "--format", "csv").output))
    assert as_query.id.tolist() == frame.id.tolist()
    both = pd.read_csv(io.StringIO(run(db, "list", "securitynet/svhn/*", "--family", "wrn", "--format", "csv").output))
    assert len(both) and all(i.startswith("securitynet/svhn/") for i in both.id)


def test_list_markdown_is_the_published_layout(db: str) -> None:
    md = run(db, "list", "--no-builtin", "--dataset", "svhn", "--format", "markdown").output
    lines = md.splitlines()
    assert lines[0].startswith("| Model Name") and "| Wrn Accuracy" in lines[0]
    assert len(lines) == 2 + 40
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    first = dict(zip(header, [c.strip() for c in lines[2].strip("|").split("|")], strict=True))
    assert first["Data Name"] == "SVHN" and first["Train Accuracy"] == "" and first["Wrn Accuracy"] != ""


def test_show_card_with_results(db: str) -> None:
    shown = json.loads(run(db, "show", "securitynet/bloodmnist/resnet18_28_1", "--format", "json").output)
    assert shown["card"]["published"]["train_accuracy"] is None
    assert "MedMNIST" in shown["card"]["missing_reasons"]["published.train_accuracy"]
    aucs = [r for r in shown["results"] if r["metric"] == "auc"]
    assert len(aucs) == 2 and all(r["value"] is None and r["missing_reason"] for r in aucs)
    assert {r["origin"] for r in shown["results"]} == {"published:securitynet-2024"}

    text = run(db, "show", "securitynet/cifar10/resnet20_cifar10").output
    card_yaml = text.split("results stored for")[0].rsplit("\n", 2)[0]
    assert yaml.safe_load(card_yaml)["id"] == "securitynet/cifar10/resnet20_cifar10"
    assert "knockoff" in text and "mia.modified_entropy" in text and "accuracy" in text


def test_show_unknown_id_is_one_clean_error(db: str, monkeypatch) -> None:
    monkeypatch.setattr(sources, "BUILTIN_SOURCES", ("securitynet.catalog.sources.yaml_cards",))
    result = CliRunner().invoke(app, ["--db", db, "catalog", "show", "nope/missing"])
    assert result.exit_code == 1
    assert "no model card with id 'nope/missing'" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_export_formats(db: str, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "cards.csv"
    run(db, "export", "--format", "csv", "--out", str(out), "--no-builtin", "--dataset", "cub200")
    assert len(pd.read_csv(out)) == 14
    out_json = tmp_path / "cards.json"
    run(db, "export", "--format", "json", "--out", str(out_json), "--no-builtin", "--purpose", "security",
        "--dataset", "imagenet")
    assert {c["dataset"] for c in json.loads(out_json.read_text())} == {"imagenet"}
    out_md = tmp_path / "cards.md"
    run(db, "export", "--format", "markdown", "--out", str(out_md), "--no-builtin", "--dataset", "cifar10")
    text = out_md.read_text()
    database = parse_securitynet_database(
        "## Benchmark Models\n" + text + "\n## Security Research Models\n"
        + "| " + " | ".join(_security_header()) + " |\n|" + "---|" * len(_security_header()) + "\n"
        + "## New Models\n| Title | Conference | Conference Type | Year | Paper Link | Weights | Note |\n"
        + "|---|---|---|---|---|---|---|\n",
        source=str(out_md),
    )
    assert len(database.benchmark) == 47 + 72
    assert not list(tmp_path.glob(".cards*"))  # no temporary file left behind


def _security_header() -> tuple[str, ...]:
    from securitynet.catalog.sources.published_table import COLUMNS

    return COLUMNS["security"]


def test_builtin_cards_listed_and_registered_with_a_missing_source(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sources, "BUILTIN_SOURCES",
                        ("securitynet.catalog.sources.yaml_cards", "securitynet.catalog.sources.not_written_yet"))
    url = f"sqlite:///{tmp_path / 'reg.sqlite'}"
    listed = CliRunner().invoke(app, ["--db", url, "catalog", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    ids = {c["id"] for c in json.loads(listed.stdout)}
    assert ids and all(i.startswith("file/") for i in ids)
    assert "not_written_yet is not installed" in " ".join(listed.stderr.split())
    registered = run(url, "register")
    assert f"registered {len(ids)} built-in card(s)" in registered.output
    assert set(Store(url).model_ids()) == ids
