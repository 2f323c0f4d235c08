"""Hostile YAML card files (`load_card_file`) and published SecurityNet tables (the importer, into a store,
and through the CLI): each either reads cleanly or fails with one line, storing nothing."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources.published import import_securitynet_database
from securitynet.catalog.sources.published_table import COLUMNS
from securitynet.catalog.sources.yaml_cards import load_card_file
from securitynet.cli import app
from securitynet.errors import CardError, TableFormatError
from securitynet.store import Store

from .conftest import outcome, sandbox

# --- cards ------------------------------------------------------------------------------------------

VALID_CARD = {
    "id": "mine/mlp", "architecture": "mlp", "dataset": "mnist", "num_classes": 10,
    "input": {"channels": 1, "size": [28, 28], "scale": 0.00392156862745098},
    "output_kind": "logits", "weights": {"urls": ["weights.pt"], "format": "state_dict"},
}
FIELDS = ["id", "architecture", "dataset", "num_classes", "input", "input.channels", "input.size", "input.mean",
          "input.std", "output_kind", "weights", "weights.urls", "weights.sha256", "weights.format", "paper",
          "paper.year", "purpose", "backdoor", "train_size", "name", "arch_kwargs"]

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                     st.sampled_from(["", "../../etc/passwd", "http://[::1", "file:///\0x", "a\0b", "~", "C:\\x"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=8)


def _set(card: dict, field: str, value: object) -> dict:
    card = {k: (dict(v) if isinstance(v, dict) else v) for k, v in card.items()}
    head, _, tail = field.partition(".")
    if tail:
        inner = card.get(head) if isinstance(card.get(head), dict) else {}
        card[head] = {**inner, tail: value}
    else:
        card[head] = value
    return card


@given(edits=st.lists(st.tuples(st.sampled_from(FIELDS), _VALUES), max_size=3), as_list=st.booleans())
@example(edits=[("weights.urls", ["a\0b"])], as_list=False)  # a NUL in a local path
@example(edits=[("weights.urls", ["http://[::1"])], as_list=False)  # a URL that urllib cannot parse
@example(edits=[("input.size", [0, -3])], as_list=False)
@example(edits=[("id", "../../x"), ("num_classes", 0)], as_list=True)
def test_card_files_with_wrong_fields(edits: list[tuple[str, object]], as_list: bool) -> None:
    card = dict(VALID_CARD)
    for field, value in edits:
        card = _set(card, field, value)
    with sandbox() as box:
        path = box.root / "cards.yaml"
        path.write_text(yaml.safe_dump([card] if as_list else card), encoding="utf-8")
        result = outcome(lambda: load_card_file(path), box)
        assert isinstance(result, CardError) or all(isinstance(c, ModelCard) for c in result)


@given(text=st.text(max_size=300), raw=st.binary(max_size=300), use_raw=st.booleans())
def test_card_files_that_are_not_cards(text: str, raw: bytes, use_raw: bool) -> None:
    with sandbox() as box:
        path = box.root / "cards.yaml"
        if use_raw:
            path.write_bytes(raw)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = outcome(lambda: load_card_file(path), box)
        assert isinstance(result, CardError) or all(isinstance(c, ModelCard) for c in result)


@given(tag=st.sampled_from(["!!python/object/apply:os.system", "!!python/object/apply:subprocess.call",
                            "!!python/object/new:os.system", "!!python/name:os.system"]))
def test_card_file_with_a_python_tag_is_refused_unrun(tag: str) -> None:
    with sandbox() as box:
        path = box.root / "cards.yaml"
        path.write_text(f"id: x/y\narchitecture: {tag} [\"touch '{box.marker}'\"]\n", encoding="utf-8")
        assert isinstance(outcome(lambda: load_card_file(path), box), CardError)


# --- published tables --------------------------------------------------------------------------------

_CELL_TEXT = st.text(alphabet=st.sampled_from(list("ab01.-|\\`[]()nN :/")), max_size=12)


def _valid_cells(table: str) -> list[str]:
    values = {"Model Name": "resnet20", "Model Type": "resnet", "Data Name": "CIFAR-10", "Data Category": "natural",
              "Num Class": "10", "Training Size": "50000", "Conference": "CVPR", "Conference Type": "CV",
              "Year": "2016", "Country": "USA", "Num Authors": "4", "Purpose": "benchmark",
              "Paper Link": "[Link](https://arxiv.org/abs/1512.03385)", "Weights": "[Link](https://e.org/w)",
              "Title": "A paper", "Note": ""}
    return [values.get(column, "0.5") for column in COLUMNS[table]]


def _table(table: str, rows: list[list[str]]) -> list[str]:
    columns = COLUMNS[table]
    header = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return [*header, *("| " + " | ".join(r) + " |" for r in rows)]


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A SecurityNet README in the published layout, with cells, rows and lines damaged at random."""
    parts: list[str] = ["# SecurityNet"]
    for table, heading in (("benchmark", "Benchmark Models"), ("security", "Security Research Models"),
                           ("new_models", "New Models")):
        rows = [_valid_cells(table) for _ in range(draw(st.integers(0, 3)))]
        for row in rows:
            for _ in range(draw(st.integers(0, 2))):
                row[draw(st.integers(0, len(row) - 1))] = draw(_CELL_TEXT)
            if draw(st.integers(0, 9)) == 0:
                row.pop()
        if rows and draw(st.booleans()):
            rows.append(list(rows[0]))  # a duplicated row
        parts += ["", f"## {heading}", *_table(table, rows)]
    lines = "\n".join(parts).splitlines()
    for _ in range(draw(st.integers(0, 2))):  # a damaged line anywhere (header, rule, heading)
        lines[draw(st.integers(0, len(lines) - 1))] = draw(st.text(max_size=20))
    return "\n".join(lines) + "\n"


@given(document=documents(), strict=st.booleans())
def test_damaged_published_tables_import_cleanly_or_store_nothing(document: str, strict: bool) -> None:
    with sandbox() as box:
        path = box.root / "README.md"
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
        store = Store(f"sqlite:///{box.root / 'db.sqlite'}")
        result = outcome(lambda: import_securitynet_database(path, store, strict=strict), box)
        if isinstance(result, TableFormatError):
            assert store.model_ids() == [] and store.results_frame().empty
        store.engine.dispose()


@given(raw=st.binary(max_size=400))
def test_published_table_that_is_not_text(raw: bytes) -> None:
    with sandbox() as box:
        path = box.root / "README.md"
        path.write_bytes(raw)
        store = Store(f"sqlite:///{box.root / 'db.sqlite'}")
        assert isinstance(outcome(lambda: import_securitynet_database(path, store), box), TableFormatError)
        assert store.model_ids() == []
        store.engine.dispose()


@given(document=documents())
def test_cli_import_of_a_damaged_table_prints_no_traceback(document: str) -> None:
    with sandbox() as box:
        path = box.root / "README.md"
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
        result = CliRunner().invoke(app, ["--db", f"sqlite:///{box.root / 'db.sqlite'}", "catalog",
                                          "import-securitynet", str(path)])
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output and not isinstance(result.exception, Exception) \
            or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code == 1:
            assert Store(f"sqlite:///{box.root / 'db.sqlite'}").model_ids() == []
        assert not Path(box.marker).exists()
