"""The layout of the published SecurityNet database (TrustAIRLab/SecurityNet `Database/README.MD`).

Three pipe tables under the headings `Benchmark Models`, `Security Research Models` and `New Models`.
This module turns them into typed rows, exactly as published (a `nan` stays NaN, a 0 stays 0:
deciding what was never measured is the importer's job), and writes rows back in the same layout.
A deviation from the layout raises TableFormatError naming the table and line; problems of single rows
are collected over the whole file and raised together (TableRowsError), each with its line and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from securitynet.catalog.sources.markdown_table import (
    Alignment,
    Link,
    MarkdownTable,
    RowProblem,
    parse_link,
    parse_tables,
    render_table,
)
from securitynet.errors import TableFormatError, TableRowsError

TableName = Literal["benchmark", "security", "new_models"]

SECTION_TITLES: dict[TableName, str] = {
    "benchmark": "Benchmark Models",
    "security": "Security Research Models",
    "new_models": "New Models",
}

# Numbers that describe the model (published annotation) and the published attack results.
ANNOTATION_COLUMNS: tuple[str, ...] = ("Train Accuracy", "Test Accuracy", "Overfit Gap")
ATTACK_COLUMNS_SECURITY: tuple[str, ...] = (
    "Model Stealing Accuracy", "Model Stealing Agreement", "Correct Auc", "M_entropy AUC",
)
ATTACK_COLUMNS_BENCHMARK: tuple[str, ...] = (
    *ATTACK_COLUMNS_SECURITY, "Wrn Accuracy", "Wrn Agree", "ImgNet Accuracy", "ImgNet Agree",
)
INTEGER_COLUMNS: tuple[str, ...] = ("Num Class", "Training Size", "Year", "Num Authors")

_HEAD = ("Model Name", "Model Type", "Data Name", "Data Category", "Num Class", "Training Size")
_TAIL = ("Conference", "Conference Type", "Year", "Country", "Num Authors", "Purpose", "Paper Link", "Weights")

# Column order exactly as published; a report that reproduces the layout writes these.
COLUMNS: dict[TableName, tuple[str, ...]] = {
    "benchmark": (*_HEAD, *ANNOTATION_COLUMNS, *ATTACK_COLUMNS_BENCHMARK, *_TAIL),
    "security": (*_HEAD, *ANNOTATION_COLUMNS, *ATTACK_COLUMNS_SECURITY, *_TAIL),
    "new_models": ("Title", "Conference", "Conference Type", "Year", "Paper Link", "Weights", "Note"),
}
FLOAT_COLUMNS: tuple[str, ...] = (*ANNOTATION_COLUMNS, *ATTACK_COLUMNS_BENCHMARK)
LINK_COLUMNS: tuple[str, ...] = ("Paper Link", "Weights")
# Columns a row cannot do without: they make the model's identity.
REQUIRED_TEXT: tuple[str, ...] = ("Model Name", "Data Name")

_INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$")


@dataclass(frozen=True)
class ModelRow:
    """One row of the Benchmark or Security table, values as published."""

    table: TableName
    line: int
    index: int  # 1-based position in its table
    name: str
    model_type: str | None
    data_name: str
    data_category: str | None
    num_classes: int | None
    train_size: int | None
    numbers: Mapping[str, float | None]  # FLOAT_COLUMNS present in the table; NaN as published; None blank
    conference: str | None
    conference_type: str | None
    year: int | None
    country: str | None
    num_authors: int | None
    purpose: str | None
    paper: Link | None
    weights: Link | None


@dataclass(frozen=True)
class NewModelRow:
    """One row of the New Models table: a paper with a code/weights link, no measurements."""

    line: int
    title: str
    conference: str | None
    conference_type: str | None
    year: int | None
    paper: Link | None
    weights: Link | None
    note: str | None


@dataclass(frozen=True)
class DuplicateRow:
    """A body row whose cells are identical to an earlier row of the same table: kept once."""

    table: TableName
    line: int
    first_line: int


@dataclass
class PublishedDatabase:
    source: str
    benchmark: list[ModelRow] = field(default_factory=list)
    security: list[ModelRow] = field(default_factory=list)
    new_models: list[NewModelRow] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------------


def read_securitynet_database(path: str | Path, *, strict: bool = False) -> PublishedDatabase:
    """Parse the three tables of a SecurityNet database README; all or nothing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableFormatError(f"SecurityNet database {path} cannot be read: {exc}") from None
    return parse_securitynet_database(text, source=str(path), strict=strict)


def parse_securitynet_database(text: str, *, source: str = "<text>", strict: bool = False) -> PublishedDatabase:
    """The three tables of `text`. A layout error (missing table or column) raises at once; row problems
    are collected over the whole file and raised together (TableRowsError, each with its line).

    A row identical to an earlier row of its table is kept once and listed in `duplicates`; with
    `strict` it is a row problem instead.
    """
    problems: list[RowProblem] = []
    tables = parse_tables(text, source=source, problems=problems)
    database = PublishedDatabase(source=source)
    for table_name in ("benchmark", "security", "new_models"):
        table = _find_table(tables, table_name, source)
        _check_columns(table, table_name, source)
        first_seen: dict[tuple[str, ...], int] = {}
        parsed: list[ModelRow | NewModelRow] = []
        for row in table.rows:
            first = first_seen.setdefault(row.cells, row.line)
            if first != row.line:
                if strict:
                    problems.append(RowProblem(SECTION_TITLES[table_name], row.line,
                                               f"duplicate of line {first} (identical cells)"))
                else:
                    database.duplicates.append(DuplicateRow(table_name, row.line, first))
                continue
            cells = _Cells(table, table_name, row.line, row.cells, problems)
            parsed.append(_new_model_row(cells, row.line) if table_name == "new_models"
                          else _model_row(cells, table_name, len(parsed) + 1, row.line, table))
            if cells.failed:
                parsed.pop()
        setattr(database, table_name, parsed)
    if problems:
        raise TableRowsError(source, [p.describe() for p in sorted(problems, key=lambda p: p.line)])
    return database


def _find_table(tables: Sequence[MarkdownTable], table_name: TableName, source: str) -> MarkdownTable:
    title = SECTION_TITLES[table_name]
    found = [t for t in tables if t.section.strip().lower() == title.lower()]
    if not found:
        raise TableFormatError(f"{source}: no table under a heading '{title}' (the SecurityNet layout has "
                               f"{', '.join(repr(t) for t in SECTION_TITLES.values())})")
    if len(found) > 1:
        raise TableFormatError(f"{source}: {len(found)} tables under '{title}' (lines "
                               f"{', '.join(str(t.header_line) for t in found)}); expected one")
    return found[0]


def _check_columns(table: MarkdownTable, table_name: TableName, source: str) -> None:
    expected = COLUMNS[table_name]
    missing = [c for c in expected if c not in table.columns]
    if missing:
        raise TableFormatError(f"{source}, table '{SECTION_TITLES[table_name]}', line {table.header_line}: "
                               f"header lacks column(s) {missing}")
    extra = [c for c in table.columns if c not in expected]
    if extra:
        raise TableFormatError(f"{source}, table '{SECTION_TITLES[table_name]}', line {table.header_line}: "
                               f"unexpected column(s) {extra}; this importer knows the layout {list(expected)}")


class _Cells:
    """Typed access to one row's cells; a bad cell is described in `problems` and read as None."""

    def __init__(self, table: MarkdownTable, table_name: TableName, line: int, cells: Sequence[str],
                 problems: list[RowProblem]):
        self.values = dict(zip(table.columns, cells, strict=True))
        self.section = SECTION_TITLES[table_name]
        self.line = line
        self.problems = problems
        self.failed = False

    def fail(self, column: str, problem: str) -> None:
        self.failed = True
        self.problems.append(RowProblem(self.section, self.line, problem, column))

    def text(self, column: str, *, required: bool = False) -> str | None:
        value = self.values[column].strip()
        if not value:
            if required:
                self.fail(column, "is empty")
            return None
        return value

    def integer(self, column: str) -> int | None:
        value = self.values[column].strip()
        if not value or value.lower() == "nan":
            return None
        if not _INTEGER.match(value):
            self.fail(column, f"{value!r} is not a whole number")
            return None
        return int(float(value))

    def number(self, column: str) -> float | None:
        value = self.values[column].strip()
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            self.fail(column, f"{value!r} is not a number")
            return None
        if math.isinf(number):
            self.fail(column, f"{value!r} is not a finite number")
            return None
        return number

    def link(self, column: str) -> Link | None:
        try:
            return parse_link(self.values[column])
        except ValueError as exc:
            self.fail(column, str(exc))
            return None


# Row field -> (column, how its cell is read). Cells are read in the order written, which is the order a row's
# problems are listed in.
_MODEL_HEAD = {"name": ("Model Name", "required"), "model_type": ("Model Type", "text"),
               "data_name": ("Data Name", "required"), "data_category": ("Data Category", "text"),
               "num_classes": ("Num Class", "integer"), "train_size": ("Training Size", "integer")}
_PUBLICATION = {"conference": ("Conference", "text"), "conference_type": ("Conference Type", "text"),
                "year": ("Year", "integer")}
_AUTHORS = {"country": ("Country", "text"), "num_authors": ("Num Authors", "integer"), "purpose": ("Purpose", "text")}
_LINKS = {"paper": ("Paper Link", "link"), "weights": ("Weights", "link")}


def _read(cells: _Cells, fields: dict[str, tuple[str, str]]) -> dict[str, object]:
    def one(column: str, how: str) -> object:
        if how == "required":
            return cells.text(column, required=True) or ""
        return getattr(cells, how)(column)

    return {field: one(column, how) for field, (column, how) in fields.items()}


def _model_row(cells: _Cells, table_name: TableName, index: int, line: int, table: MarkdownTable) -> ModelRow:
    return ModelRow(
        table=table_name, line=line, index=index, **_read(cells, _MODEL_HEAD),
        numbers={column: cells.number(column) for column in FLOAT_COLUMNS if column in table.columns},
        **_read(cells, _PUBLICATION), **_read(cells, _AUTHORS), **_read(cells, _LINKS),
    )


def _new_model_row(cells: _Cells, line: int) -> NewModelRow:
    return NewModelRow(line=line, **_read(cells, {"title": ("Title", "required"), **_PUBLICATION, **_LINKS,
                                                   "note": ("Note", "text")}))


# --- writing ------------------------------------------------------------------------------------


def format_number(value: float | int | None, *, missing: str = "") -> str:
    """Numbers as published (shortest round-trip text, no exponent for table values); missing as `missing`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return str(int(value))
    return f"{value:.6g}" if abs(value) >= 1e-4 or value == 0 else repr(value)


def render_securitynet_table(
    table_name: TableName, records: Sequence[Mapping[str, object]], *, missing: str = ""
) -> str:
    """Rows (column name -> value) as a pipe table in the published layout of `table_name`.

    Numbers are right-aligned and text left-aligned as published; links are written `[Link](url)`
    (`[Paper](url)` for New Models papers); missing values (None, NaN) are written as `missing`
    (blank by default), never as 0, so the result parses back with `parse_securitynet_database`.
    """
    columns = COLUMNS[table_name]
    numeric = set(FLOAT_COLUMNS) | set(INTEGER_COLUMNS)
    alignments: list[Alignment] = ["right" if c in numeric else "left" for c in columns]
    rows = []
    for record in records:
        row = []
        for column in columns:
            value = record.get(column)
            if column in numeric:
                row.append(format_number(value, missing=missing))  # type: ignore[arg-type]
            elif column in LINK_COLUMNS:
                row.append(_format_link(value, "Paper" if table_name == "new_models" and column == "Paper Link"
                                        else "Link"))
            else:
                row.append("" if value is None else str(value))
        rows.append(row)
    return render_table(columns, alignments, rows)


def _format_link(value: object, text: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Link):
        return f"[{value.text}]({value.target})"
    return f"[{text}]({value})"
