"""A small stand-in for `cli.output` (being written on the branch i14-tables): rows as an 80-column
table, JSON or CSV. Replace `emit` with `cli.output.emit` once that lands on main."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rich.table import Table


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    right: bool = False  # numbers right-aligned
    wrap: bool = False  # long text folds inside its column instead of widening the table


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], fmt: OutputFormat | str, *,
         title: str | None = None) -> None:
    """Print rows in the chosen format; JSON and CSV carry every column's full value."""
    records = [{c.key: _plain(row.get(c.key)) for c in columns} for row in rows]
    if str(fmt) == "json":
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
    elif str(fmt) == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[c.key for c in columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        sys.stdout.write(out.getvalue())
    else:
        from securitynet.cli import common

        table = Table(title=title, width=min(80, common.console.width))
        for column in columns:
            table.add_column(column.header, justify="right" if column.right else "left",
                             overflow="fold", no_wrap=not column.wrap)
        for record in records:
            table.add_row(*("–" if record[c.key] is None else str(record[c.key]) for c in columns))
        common.console.print(table)
