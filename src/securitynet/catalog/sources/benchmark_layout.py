"""The published Benchmark table as a layout to write results into: its columns in order, which attack,
parameters and metric each attack column reports, the annotation columns, the published dataset spellings,
and its Markdown writer.

Analysis reads the store only and never imports the catalog, so whoever asks for a report (the CLI, the
quickstart) hands it this layout; analysis uses it through the ``TableLayout`` protocol of
``securitynet.analysis.published``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from securitynet.catalog.sources.markdown_table import Alignment, escape_cell, render_table
from securitynet.catalog.sources.published import (
    ANNOTATION_FIELDS,
    PUBLISHED_COLUMNS,
    PUBLISHED_DATASET_NAMES,
    PublishedMetric,
)
from securitynet.catalog.sources.published_table import (
    COLUMNS,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    LINK_COLUMNS,
    format_number,
)

MEASURED = "measured"  # the origin of a value run here (the store's origin column)


class BenchmarkLayout:
    """The Benchmark table's layout (one shared instance: ``BENCHMARK_LAYOUT``)."""

    columns: tuple[str, ...] = COLUMNS["benchmark"]
    attack_columns: Mapping[str, PublishedMetric] = PUBLISHED_COLUMNS
    annotation_columns: Mapping[str, str] = ANNOTATION_FIELDS  # column -> metric (the card's published field)
    float_columns: tuple[str, ...] = FLOAT_COLUMNS
    dataset_names: Mapping[str, str] = PUBLISHED_DATASET_NAMES

    def render_markdown(self, records: Sequence[Mapping[str, tuple[Any, str | None]]], *, missing: str) -> str:
        """Records (column -> (value, origin)) as a pipe table in the Benchmark layout; measured numbers bold."""
        numeric = set(FLOAT_COLUMNS) | set(INTEGER_COLUMNS)
        rows = []
        for record in records:
            row = []
            for column in self.columns:
                value, origin = record.get(column, (None, None))
                if column in numeric:
                    text = format_number(value, missing=missing)
                    row.append(f"**{text}**" if origin == MEASURED and value is not None else text)
                elif column in LINK_COLUMNS:
                    row.append(f"[Link]({value})" if _present(value) and value else missing)
                else:
                    row.append(escape_cell(str(value)) if _present(value) else missing)
            rows.append(row)
        alignments: list[Alignment] = ["right" if c in numeric else "left" for c in self.columns]
        return render_table(self.columns, alignments, rows)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


BENCHMARK_LAYOUT = BenchmarkLayout()
