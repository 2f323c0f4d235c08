"""GitHub-flavoured Markdown pipe tables: read them with line numbers, and write them back.

Written by hand because the published SecurityNet database is a Markdown file and no well-kept
library both parses pipe tables and reports where a malformed one breaks. Follows GFM: a table is
a header row, an alignment row (`:---`, `---:`, `:--:`), then body rows; leading and trailing pipes
are optional; `\\|` is a literal pipe and pipes inside a `code span` do not split cells.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from securitynet.errors import TableFormatError

Alignment = Literal["left", "right", "center", "none"]

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_ALIGNMENT_CELL = re.compile(r"^:?-+:?$")
_URL = re.compile(r"^[a-z][a-z0-9+.\-]*://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class TableRow:
    line: int  # 1-based line number in the source text
    cells: tuple[str, ...]


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one body row (or one of its cells), kept so that every problem of a file is
    reported together instead of only the first."""

    section: str
    line: int
    problem: str
    column: str | None = None

    def describe(self) -> str:
        where = f"table '{self.section}', line {self.line}" if self.section else f"line {self.line}"
        return where + (f", column '{self.column}'" if self.column else "") + f": {self.problem}"


@dataclass
class MarkdownTable:
    """One pipe table; `section` is the text of the nearest heading above it ("" when none)."""

    section: str
    header_line: int
    columns: tuple[str, ...]
    alignments: tuple[Alignment, ...]
    rows: list[TableRow] = field(default_factory=list)

    def column_index(self, name: str) -> int:
        return self.columns.index(name)


@dataclass(frozen=True)
class Link:
    """An inline link `[text](target)`; `target` is whatever stood in the parentheses."""

    text: str
    target: str

    @property
    def is_url(self) -> bool:
        return bool(_URL.match(self.target))


def split_cells(line: str) -> list[str]:
    """Cells of one table line, stripped, honouring `\\|` escapes and code spans."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] == "|":
            current.append("|")
            i += 2
            continue
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    cells.append("".join(current).strip())
    return cells


def _alignment(cell: str) -> Alignment:
    left, right = cell.startswith(":"), cell.endswith(":")
    if left and right:
        return "center"
    if right:
        return "right"
    if left:
        return "left"
    return "none"


def _is_table_line(line: str) -> bool:
    return line.lstrip().startswith("|")


def _is_alignment_row(cells: Sequence[str]) -> bool:
    return bool(cells) and all(_ALIGNMENT_CELL.match(cell.replace(" ", "")) for cell in cells)


def parse_tables(text: str, *, source: str = "<text>", problems: list[RowProblem] | None = None
                 ) -> list[MarkdownTable]:
    """Every pipe table in `text`, in order, each tagged with the heading it stands under.

    A table whose first line is an alignment row (no header), or whose second line is not an
    alignment row, raises TableFormatError naming the source, section and line. A body row with a
    different number of cells than the header raises too, unless `problems` is given: then the row
    is left out and described there, so a caller can report every bad row at once.
    """
    lines = text.splitlines()
    tables: list[MarkdownTable] = []
    section = ""
    i = 0
    while i < len(lines):
        heading = _HEADING.match(lines[i])
        if heading:
            section = heading.group(2)
            i += 1
            continue
        if not _is_table_line(lines[i]):
            i += 1
            continue
        start = i
        while i < len(lines) and _is_table_line(lines[i]):
            i += 1
        tables.append(_parse_block(lines[start:i], start + 1, section, source, problems))
    return tables


def _parse_block(block: list[str], first_line: int, section: str, source: str,
                 problems: list[RowProblem] | None) -> MarkdownTable:
    where = f"{source}, table under {section!r}" if section else source
    header = split_cells(block[0])
    if _is_alignment_row(header):
        raise TableFormatError(f"{where}, line {first_line}: the table has no header row (it starts with its "
                               "alignment row)")
    if len(block) < 2 or not _is_alignment_row(split_cells(block[1])):
        raise TableFormatError(f"{where}, line {first_line + 1}: expected the alignment row (|:---|---:|) "
                               "below the header")
    if any(not name for name in header):
        blank = header.index("") + 1
        raise TableFormatError(f"{where}, line {first_line}: header column {blank} has no name")
    if len(set(header)) != len(header):
        dupes = sorted({name for name in header if header.count(name) > 1})
        raise TableFormatError(f"{where}, line {first_line}: header repeats column(s) {dupes}")
    alignments = split_cells(block[1])
    if len(alignments) != len(header):
        raise TableFormatError(f"{where}, line {first_line + 1}: alignment row has {len(alignments)} cells, "
                               f"the header has {len(header)}")
    table = MarkdownTable(
        section=section,
        header_line=first_line,
        columns=tuple(header),
        alignments=tuple(_alignment(cell.replace(" ", "")) for cell in alignments),
    )
    for offset, line in enumerate(block[2:], start=2):
        cells = split_cells(line)
        if len(cells) != len(header):
            problem = f"row has {len(cells)} cells, the header has {len(header)} ({', '.join(header)})"
            if problems is None:
                raise TableFormatError(f"{where}, line {first_line + offset}: {problem}")
            problems.append(RowProblem(section, first_line + offset, problem))
            continue
        table.rows.append(TableRow(line=first_line + offset, cells=tuple(cells)))
    return table


def parse_link(cell: str) -> Link | None:
    """`[text](target)` -> Link (nested parentheses in the target kept); a bare URL -> Link(url, url).

    Returns None for an empty cell; raises ValueError for anything else.
    """
    cell = cell.strip()
    if not cell:
        return None
    if _URL.match(cell):
        return Link(text=cell, target=cell)
    if not cell.startswith("["):
        raise ValueError(f"not a link: {cell!r}")
    close = cell.find("](")
    if close < 0:
        raise ValueError(f"not a link: {cell!r}")
    depth = 0
    for pos in range(close + 1, len(cell)):
        if cell[pos] == "(":
            depth += 1
        elif cell[pos] == ")":
            depth -= 1
            if depth == 0:
                if cell[pos + 1 :].strip():
                    raise ValueError(f"text after the link: {cell!r}")
                return Link(text=cell[1:close], target=cell[close + 2 : pos].strip())
    raise ValueError(f"link without a closing parenthesis: {cell!r}")


def escape_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def render_table(columns: Sequence[str], alignments: Sequence[Alignment], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table padded to aligned columns, in the layout pandas' to_markdown writes (and
    SecurityNet published): one space of padding, numbers right-aligned, text left-aligned."""
    if len(columns) != len(alignments):
        raise ValueError("one alignment per column")
    body = [[escape_cell(cell) for cell in row] for row in rows]
    for row in body:
        if len(row) != len(columns):
            raise ValueError(f"row has {len(row)} cells, expected {len(columns)}")
    widths = [max([len(name), 3, *(len(row[i]) for row in body)]) for i, name in enumerate(columns)]

    def pad(text: str, width: int, align: Alignment) -> str:
        return text.rjust(width) if align == "right" else text.ljust(width)

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(pad(c, w, a) for c, w, a in zip(cells, widths, alignments, strict=True)) + " |"

    rule_cells = []
    for width, align in zip(widths, alignments, strict=True):
        dashes = "-" * (width + 2)
        if align == "right":
            rule_cells.append(dashes[:-1] + ":")
        elif align == "left":
            rule_cells.append(":" + dashes[1:])
        elif align == "center":
            rule_cells.append(":" + dashes[2:] + ":")
        else:
            rule_cells.append(dashes)
    header = line([escape_cell(c) for c in columns])
    rule = "|" + "|".join(rule_cells) + "|"
    return "\n".join([header, rule, *(line(row) for row in body)]) + "\n"
