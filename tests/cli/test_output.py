"""cli/output.py: tables fitted to the terminal, JSON and CSV with full ids and typed values."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from rich.console import Console

from securitynet.cli.output import Column, emit, render_table, shape_id, shorten_middle

IDS = ["file/badnet_verazuo_mnist", "securitynet/cifar100/wide_resnet_28_10_cutmix_cifar100",
       "pytorchcv/resnet20_cifar10"]
COLUMNS = [
    Column("model_id", "model", kind="id"),
    Column("attack", kind="id"),
    Column("variant", kind="text"),
    Column("auc", kind="number"),
    Column("tpr_at_1pct_fpr", "tpr@1% fpr", kind="number"),
    Column("agreement", kind="number"),
    Column("seeds", kind="int"),
    Column("params", show=False),
]
ROWS = [
    {"model_id": model_id, "attack": "stealing.knockoff", "variant": "query_set=ood surrogate=resnet18",
     "auc": np.float64(0.51234), "tpr_at_1pct_fpr": float("nan"), "agreement": None, "seeds": np.int64(3),
     "params": {"query_set": "ood", "budget": 1000}}
    for model_id in IDS
]


def _render(width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(render_table(ROWS, COLUMNS, title="results", width=width))
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_table_fits_the_width_without_breaking_ids(width: int, table_problems) -> None:
    text = _render(width)
    assert table_problems(text, width, IDS, [c.heading for c in COLUMNS if c.show]) == []
    assert "params" not in text  # show=False columns stay out of the table


def test_table_at_120_keeps_ids_whole() -> None:
    text = _render(120)
    assert IDS[0] in text and IDS[2] in text


def test_readability_check_catches_an_id_cut_mid_word(table_problems) -> None:
    broken = "model\nfile/badnet_ver\nazuo_mnist\n"
    assert table_problems(broken, 80, ["file/badnet_verazuo_mnist"], ["model"])
    assert table_problems("mo\ndel", 80, [], ["model"])
    assert table_problems("x" * 81, 80, [], []) and not table_problems("file/\nbadnet…mnist", 80,
                                                                        ["file/badnet_verazuo_mnist"], [])


def test_shape_id_breaks_after_slashes_and_shortens_long_parts() -> None:
    assert shape_id("securitynet/cifar10/resnet20", 20) == "securitynet/cifar10/\nresnet20"
    shaped = shape_id("file/badnet_verazuo_mnist", 12)
    assert shaped.splitlines()[0] == "file/"
    assert all(len(line) <= 12 for line in shaped.splitlines())
    assert shorten_middle("badnet_verazuo_mnist", 12) == "badnet…mnist"
    assert shape_id("short/id", None) == "short/id"


def test_json_carries_full_ids_and_typed_values(capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "json")
    data = json.loads(capsys.readouterr().out)
    assert [r["model_id"] for r in data] == IDS
    first = data[0]
    assert first["auc"] == pytest.approx(0.51234) and isinstance(first["auc"], float)
    assert first["tpr_at_1pct_fpr"] is None and first["agreement"] is None
    assert first["seeds"] == 3 and isinstance(first["seeds"], int)
    assert first["params"] == {"query_set": "ood", "budget": 1000}


def test_csv_has_empty_cells_for_missing_values(capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "csv")
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["model_id"] for r in records] == IDS
    assert records[0]["tpr_at_1pct_fpr"] == "" and records[0]["agreement"] == ""
    assert float(records[0]["auc"]) == pytest.approx(0.51234)
    assert json.loads(records[0]["params"]) == {"query_set": "ood", "budget": 1000}


def test_jsonl_prints_one_object_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "jsonl")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["model_id"] for line in lines] == IDS
