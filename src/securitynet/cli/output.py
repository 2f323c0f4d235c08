"""One way every command prints rows: a table that fits the terminal, or JSON / CSV / JSON lines for a pipe.

A command describes its columns once and hands over plain row dicts; the format is the user's choice::

    from securitynet.cli.output import Column, FormatOption, OutputFormat, emit

    COLUMNS = [Column("model_id", "model", kind="id"), Column("auc", kind="number"),
               Column("params", show=False)]          # in JSON/CSV only

    def list_things(fmt: OutputFormat = FormatOption) -> None:
        emit(rows, COLUMNS, fmt, title="things")

API:

- ``OutputFormat`` (table, json, csv) and ``FormatOption``, the ``--format`` option to reuse;
  ``StreamFormat`` adds ``jsonl`` for commands that print rows as they come (``emit_line``).
- ``Column(key, header=None, kind="text", digits=3, show=True)``: ``key`` names the value in each row
  and in JSON/CSV; ``header`` is the table heading (default: the key). Kinds: ``id`` (ids, paths and
  dotted names: wrapped after ``/``, or after ``.`` in a name without ``/``; a part too long for the
  column shortened in the middle, never cut mid-word), ``text`` (wrapped at spaces), ``number`` (float,
  ``digits`` significant), ``int``, ``bool`` (yes/no). ``show=False`` keeps a column out of the table
  (JSON and CSV still carry it).
- ``emit(rows, columns, fmt, *, title=None)``: print rows in the chosen format to standard output (a table
  through ``securitynet.cli.common.console``, at its width, the title on its own line above it).
- ``emit_line(row)``: one JSON object on one line, flushed (JSON lines).
- ``render_table(rows, columns, *, title=None, width=80) -> rich Table``: the table alone, fitted to
  ``width`` (what tests render at 80 and 120 columns).
- ``jsonable(value)``: a value as JSON data (NaN and missing -> None, numpy scalars -> Python).

Tables (``fit_widths``): no column is narrower than its heading; numbers keep their width; when the row does
not fit, text columns wrap at spaces first, then id columns wrap after ``/`` (a dotted name without ``/``,
such as ``mia.loss``, after a ``.``), a part longer than the column shortened in the middle (``badnet…mnist``). A
missing value shows as ``–``. JSON and CSV carry full ids and every value machine-typed (numbers as
numbers, lists and dicts as JSON); a missing value is ``null`` in JSON and empty in CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from securitynet.text import shorten_middle

Kind = Literal["id", "text", "number", "int", "bool"]
MISSING_CELL = "–"
# One space of padding and one rule between columns: what each column costs besides its text.
_COLUMN_OVERHEAD = 2
# A text column wraps at spaces, down to its longest word but not below this (a longer word is cut with "…").
_TEXT_FLOOR = 22
# No id column narrower than this (its parts would be shortened beyond recognition).
_ID_FLOOR = 12
# ... unless the table cannot fit otherwise.
_ID_LAST_RESORT = 6
# An id column this wide shows most ids whole.
_ID_COMFORT = 28


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class StreamFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    jsonl = "jsonl"


FormatOption: Any = typer.Option(
    OutputFormat.table, "--format", help="table (fitted to the terminal), json or csv (full ids, every value)."
)


@dataclass(frozen=True)
class Column:
    key: str
    header: str | None = None
    kind: Kind = "text"
    digits: int = 3
    show: bool = True

    @property
    def heading(self) -> str:
        return self.header or self.key


def jsonable(value: Any) -> Any:
    """A value as JSON data: NaN and pandas' missing markers -> None, numpy scalars -> int/float/bool."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas' NA and NaT (a datetime)
        return None
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def emit(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], fmt: str, *, title: str | None = None) -> None:
    """Print rows as a fitted table (``table``), a JSON array (``json``), CSV (``csv``) or JSON lines (``jsonl``)."""
    rows = list(rows)
    fmt = str(fmt)
    if fmt == "json":
        sys.stdout.write(json.dumps([_record(row, columns) for row in rows], indent=2) + "\n")
    elif fmt == "jsonl":
        for row in rows:
            emit_line(_record(row, columns))
    elif fmt == "csv":
        sys.stdout.write(to_csv(rows, columns))
    elif fmt == "table":
        from securitynet.cli import common  # looked up at call time, so tests can swap the console

        # The title on its own line: a table narrower than the terminal would wrap it to its own width.
        if title:
            common.console.print(Text(title, style="bold"))
        common.console.print(render_table(rows, columns, width=common.console.width))
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    sys.stdout.flush()


def emit_line(row: Mapping[str, Any]) -> None:
    """One JSON object on one line, flushed at once (for a reader following a long run)."""
    sys.stdout.write(json.dumps(jsonable(dict(row))) + "\n")
    sys.stdout.flush()


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """CSV with one header line of column keys; None is an empty cell, lists and dicts are JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        record = _record(row, columns)
        writer.writerow(["" if v is None else json.dumps(v) if isinstance(v, dict | list) else v
                         for v in record.values()])
    return out.getvalue()


def _record(row: Mapping[str, Any], columns: Sequence[Column]) -> dict[str, Any]:
    return {c.key: jsonable(row.get(c.key)) for c in columns}


def render_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], *, title: str | None = None,
                 width: int = 80) -> Table:
    """A rich Table of the shown columns whose text fits ``width`` (see the module docstring)."""
    rows = list(rows)
    shown = [c for c in columns if c.show]
    cells = [[_cell(row.get(c.key), c) for c in shown] for row in rows]
    widths = fit_widths(shown, cells, width)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  title_justify="left")
    for column, column_width in zip(shown, widths, strict=True):
        numeric = column.kind in ("number", "int")
        table.add_column(column.heading, justify="right" if numeric else "left", width=column_width,
                         no_wrap=column.kind != "text", overflow="ellipsis")
    for row_cells in cells:
        table.add_row(*(Text(shape_id(text, widths[i]) if column.kind == "id" else text)
                        for i, (text, column) in enumerate(zip(row_cells, shown, strict=True))))
    return table


def _cell(value: Any, column: Column) -> str:
    value = jsonable(value)
    if value is None:
        return MISSING_CELL
    if column.kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if column.kind == "number" and isinstance(value, int | float):
        return f"{value:.{column.digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    if column.kind == "int" and isinstance(value, int | float):
        return str(int(value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def fit_widths(columns: Sequence[Column], cells: list[list[str]], width: int) -> list[int]:
    """The text width of each column: everything whole when it fits, else ids wrapped and text columns wrapped.

    Numbers, booleans and headings never shrink; id columns get their longest value when the rest leaves room,
    else their share of it (never under ``_ID_FLOOR``); text columns give way, widest first, down to their
    longest word (capped at ``_TEXT_FLOOR``). A table whose fixed parts exceed ``width`` stays wider.
    """
    natural = _natural(columns, cells)
    floor = _floors(columns, cells)
    ids = [i for i, c in enumerate(columns) if c.kind == "id"]
    texts = [i for i, c in enumerate(columns) if c.kind == "text"]
    free = width - _COLUMN_OVERHEAD * len(columns)
    widths = list(natural)
    # Text columns keep their natural width when the ids still get a comfortable share, else wrap to their floor.
    room = free - sum(natural[i] for i in range(len(columns)) if i not in ids)
    if room < sum(min(natural[i], _ID_COMFORT) for i in ids):
        room = free - sum(floor[i] for i in range(len(columns)) if i not in ids)
    # The narrowest id columns first: what they leave goes to the wider ones.
    for position, i in enumerate(sorted(ids, key=lambda i: natural[i])):
        share = max(room // (len(ids) - position), len(columns[i].heading), _ID_FLOOR)
        widths[i] = min(natural[i], share)
        room -= widths[i]
    # An id wrapped at its separators may need less than its share.
    for i in ids:
        widths[i] = max(len(columns[i].heading), max((_longest_line(shape_id(r[i], widths[i])) for r in cells),
                                                     default=0))
    excess = sum(widths) - free
    # Text columns give way first, down to their floor; then ids, down to their heading; last, text columns down
    # to their heading (a word longer than that is cut with "…"): a heading is never cut.
    headings = [len(c.heading) for c in columns]
    for candidates, lowest in ((texts, floor), (ids, [max(h, _ID_LAST_RESORT) for h in headings]),
                               (texts, headings)):
        while excess > 0:
            shrinkable = [i for i in candidates if widths[i] > lowest[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i] - lowest[i])
            widths[widest] -= 1
            excess -= 1
    return widths


def _natural(columns: Sequence[Column], cells: list[list[str]]) -> list[int]:
    return [max([len(c.heading)] + [_longest_line(r[i]) for r in cells]) for i, c in enumerate(columns)]


def _floors(columns: Sequence[Column], cells: list[list[str]]) -> list[int]:
    """The narrowest each column may get: text wraps down to its longest word (capped), the rest stays whole."""
    natural = _natural(columns, cells)
    return [max(len(c.heading), min(_TEXT_FLOOR, max((_longest_word(r[i]) for r in cells), default=0)))
            if c.kind == "text" else natural[i] for i, c in enumerate(columns)]


def _longest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


# A path-like id breaks after a "/"; a dotted name ("backdoor.neural_cleanse", no "/") after a "." that starts a
# name, never inside "eps0.4", "v1.2" or a file name's extension.
_PATH_PARTS = re.compile(r".+?(?:/|$)")
_DOTTED_PARTS = re.compile(r".+?(?:(?<=[A-Za-z_])\.(?=[A-Za-z_])|$)")


def shape_id(text: str, width: int | None) -> str:
    """An id fitted to ``width``: broken after ``/`` (or, with none, a ``.``), a too-long part shortened in the middle.

    ``file/badnet_verazuo_mnist`` at width 16 -> ``file/`` + ``badnet_…o_mnist``; never a break mid-word.
    """
    if width is None or len(text) <= width:
        return text
    lines: list[str] = []
    line = ""
    for part in (_PATH_PARTS if "/" in text else _DOTTED_PARTS).findall(text):
        part = shorten_middle(part, width)
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    return "\n".join(lines)


