"""HTML pieces of the report: escaped, sortable tables (missing shown as "—") and a small inline sorter.

The report must be one self-contained file: no external script, style sheet or font.
"""

from __future__ import annotations

import html
import math
import numbers
from typing import Any

import pandas as pd

MISSING_HTML = '<span class="missing" title="not measured / unknown">—</span>'

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 0.9em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; }
.not-drawn { color: #8a5a00; background: #fff6e0; padding: 0.5em; border-left: 3px solid #e0a800; }
.table-wrap { overflow-x: auto; max-height: 36em; overflow-y: auto; border: 1px solid #ddd; }
table.sortable { border-collapse: collapse; font-size: 0.8em; white-space: nowrap; }
table.sortable th, table.sortable td { border: 1px solid #e4e4e4; padding: 2px 6px; }
table.sortable th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.missing { color: #aaa; }
.measured { font-weight: bold; }
.note { color: #555; font-size: 0.85em; }
"""

# Click a header to sort; numbers sort as numbers, missing values always last.
SORTER = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) { var cell = row.cells[column]; return cell ? cell.getAttribute("data-sort") : ""; };
      var numeric = rows.every(function (row) { var k = key(row); return k === "" || !isNaN(parseFloat(k)); });
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

# Lets a browser test (and a reader) see at once whether an embedded figure failed to decode.
IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = document.querySelectorAll("img.figure");
  var broken = Array.prototype.filter.call(images, function (img) { return !img.complete || img.naturalWidth === 0; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-broken-images", String(broken.length));
});
"""


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if value.is_integer() and abs(value) >= 1000:
            return str(int(value))
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def table(frame: pd.DataFrame, *, table_id: str, max_rows: int | None = 500,
          bold: dict[str, pd.Series] | None = None) -> str:
    """A sortable HTML table. ``bold``: column -> boolean Series marking cells shown as measured."""
    shown = frame if max_rows is None else frame.head(max_rows)
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool}
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame.columns)
    body = []
    for position, (_, row) in enumerate(shown.iterrows()):
        cells = []
        for column in frame.columns:
            value = row[column]
            classes = ["num"] if column in numeric else []
            if bold and column in bold and bool(bold[column].iloc[position]):
                classes.append("measured")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            if is_missing(value):
                cells.append(f'<td{attr} data-sort="">{MISSING_HTML}</td>')
                continue
            sort_key = repr(float(value)) if column in numeric else str(value)
            text = format_value(value)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                content = f'<a href="{html.escape(value)}">link</a>'
            else:
                content = html.escape(text)
            cells.append(f'<td{attr} data-sort="{html.escape(sort_key)}">{content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = ""
    if max_rows is not None and len(frame) > max_rows:
        note = f'<p class="note">First {max_rows} of {len(frame)} rows; the CSV file holds all of them.</p>'
    return (f'<div class="table-wrap"><table class="sortable" id="{html.escape(table_id)}" '
            f'data-rows="{len(frame)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            + note)
