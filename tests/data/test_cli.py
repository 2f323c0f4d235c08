"""`securitynet data list|show|download` (the data command group on its own Typer app)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from securitynet.cli import data as data_cli


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    data_cli.register(app)
    return app


def test_list_shows_where_each_split_is_found(app, shared_data: Path) -> None:
    result = CliRunner().invoke(app, ["data", "list", "--json", "--root", str(shared_data)])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["mnist"]["found"] == {"train": None, "test": str(shared_data), "train_subset_5k": str(shared_data)}
    # The shared folder holds CIFAR-10's test batch (no training batches) and nothing of CIFAR-100.
    cifar10_test = shared_data / "cifar10" / "cifar-10-batches-py" / "test_batch"
    assert rows["cifar10"]["found"] == {"train": None, "test": str(shared_data) if cifar10_test.exists() else None}
    assert rows["cifar100"]["found"] == {"train": None, "test": None}
    assert rows["gtsrb"]["num_classes"] == 43


def test_list_table_marks_absent_and_filters_present(app, shared_data: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "list", "--present", "--root", str(shared_data)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "breastmnist" in result.output and "│ cifar100 " not in result.output and "svhn" not in result.output
    assert "train: absent" in result.output  # mnist's full training split


def test_show_tells_how_to_provide_missing_splits(app, shared_data: Path) -> None:
    result = CliRunner().invoke(app, ["data", "show", "mnist", "--json", "--root", str(shared_data)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["member_split"] == "train_subset_5k"
    assert record["splits"]["test"]["official_size"] == 10_000
    assert "SECURITYNET_DATA" in record["splits"]["train"]["how_to_provide"]
    text = CliRunner().invoke(app, ["data", "show", "pneumoniamnist_reduced"], env={"COLUMNS": "250"})
    assert "not the official release" in text.output


def test_unknown_dataset_is_one_clean_error(app) -> None:
    result = CliRunner().invoke(app, ["data", "show", "nosuch"])
    assert result.exit_code == 1
    assert "unknown dataset 'nosuch'" in result.output and "Traceback" not in result.output


def test_register_writes_the_datasets_table(app, tmp_path: Path, monkeypatch) -> None:
    import sqlalchemy as sa

    from securitynet.cli.common import state
    from securitynet.store import Store

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    monkeypatch.setattr(state, "db_url", url)
    result = CliRunner().invoke(app, ["data", "register"])
    assert result.exit_code == 0, result.output
    with Store(url).engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(sa.text("select * from datasets"))}
    assert rows["breastmnist"].num_classes == 2 and rows["breastmnist"].input_shape == "28x28"
    splits = json.loads(rows["mnist"].splits_json)
    assert splits["splits"]["test"] == {"official_size": 10_000, "member": False, "nonmember": True}
    assert splits["member_splits"] == ["train", "train_subset_5k"]
