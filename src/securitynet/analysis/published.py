"""Published values beside measured ones: the difference table, and the SecurityNet database layout.

A published value belongs to a published card (``securitynet/<dataset>/<name>``). Its measured
counterpart is the model that card names in ``same_as`` (the same weights in a richer source), or the
published card itself when it was evaluated directly. A measured result matches a published column when
it is the same attack and metric and its parameters include every parameter the column fixes
(the layout's ``attack_columns``): the paper's stealing columns differ by surrogate and query set, the
membership columns fix nothing. The layout comes from the caller (``TableLayout``): analysis reads the store only.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from securitynet.analysis.frames import ANNOTATION, MEASURED, AnalysisData

MISSING = "—"
COMPARISON_COLUMNS = [
    "published_model", "measured_model", "dataset", "attack", "metric", "published_column", "published",
    "measured", "difference", "measured_variant", "measured_params_hash", "measured_seeds", "published_origin",
]


class ColumnSpec(Protocol):
    """What one published attack column reports: the attack, the parameters it fixes, the metric."""

    attack: str
    params: Mapping[str, str]
    metric: str


class TableLayout(Protocol):
    """The published table to write results into, handed in by the caller: analysis reads the store only, the
    layout is the catalog's knowledge (``securitynet.catalog.sources.benchmark_layout.BENCHMARK_LAYOUT``)."""

    columns: tuple[str, ...]  # in published order
    attack_columns: Mapping[str, ColumnSpec]
    annotation_columns: Mapping[str, str]  # column -> annotation metric
    float_columns: tuple[str, ...]
    dataset_names: Mapping[str, str]  # our dataset name -> the published spelling

    def render_markdown(self, records: Sequence[Mapping[str, tuple[Any, str | None]]], *, missing: str) -> str: ...


def params_match(fixed: Mapping[str, Any], measured_params: str | Mapping[str, Any]) -> bool:
    """True when the measured parameters include every parameter the published column fixes."""
    params = json.loads(measured_params) if isinstance(measured_params, str) else measured_params
    return all(key in params and str(params[key]) == str(value) for key, value in fixed.items())


def counterpart(models: pd.DataFrame) -> dict[str, str]:
    """Published card id -> the id of the model whose measurements stand for it."""
    return {row.id: (row.same_as if isinstance(row.same_as, str) else row.id)
            for row in models.itertuples(index=False) if row.source == "published"}


@functools.lru_cache(maxsize=4096)
def _column_for(layout: TableLayout, attack: str, params: str, metric: str) -> str | None:
    for column, spec in layout.attack_columns.items():
        if spec.attack == attack and spec.metric == metric and params_match(spec.params, params) \
                and params_match(json.loads(params), dict(spec.params)):
            return column
    return None


class MeasuredIndex:
    """Measured values by (model, attack, metric), so that thousands of published values look up fast."""

    def __init__(self, agg: pd.DataFrame) -> None:
        frame = agg[(agg.origin == MEASURED) & agg.value.notna()]
        self._groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for rec in frame.to_dict("records"):
            rec["params_dict"] = json.loads(rec["params"])
            self._groups.setdefault((rec["model_id"], rec["attack"], rec["metric"]), []).append(rec)

    def candidates(self, model_id: str, attack: str, metric: str, fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [rec for rec in self._groups.get((model_id, attack, metric), [])
                if params_match(fixed, rec["params_dict"])]


def published_vs_measured(data: AnalysisData, agg: pd.DataFrame, layout: TableLayout) -> pd.DataFrame:
    """Every published value of the selected models, with the measured value where there is one.

    One row per published value and matching measured parameter set (several when the same attack ran with
    different parameters the column does not fix); ``measured`` is missing (NaN) where nothing was measured.
    ``difference`` = measured - published.
    """
    twins = counterpart(data.models)
    index = MeasuredIndex(agg)
    rows: list[dict[str, Any]] = []

    def add(published_model: str, dataset: str, attack: str, metric: str, column: str, value: float,
            fixed: Mapping[str, Any], origin: str) -> None:
        measured_model = twins.get(published_model, published_model)
        found = index.candidates(measured_model, attack, metric, fixed)
        base = {"published_model": published_model, "measured_model": measured_model, "dataset": dataset,
                "attack": attack, "metric": metric, "published_column": column, "published": value,
                "published_origin": origin}
        if not found:
            rows.append({**base, "measured": np.nan, "difference": np.nan, "measured_variant": None,
                         "measured_params_hash": None, "measured_seeds": None})
        for m in found:
            rows.append({**base, "measured": m["value"], "difference": m["value"] - value,
                         "measured_variant": m["variant"], "measured_params_hash": m["params_hash"],
                         "measured_seeds": m["seeds"]})

    dataset_of = dict(zip(data.models.id, data.models.dataset, strict=True))
    published = agg[(agg.origin != MEASURED) & agg.value.notna()]
    for rec in published.to_dict("records"):
        column = _column_for(layout, rec["attack"], rec["params"], rec["metric"])
        fixed = dict(layout.attack_columns[column].params) if column else json.loads(rec["params"])
        add(rec["model_id"], dataset_of.get(rec["model_id"]), rec["attack"], rec["metric"], column or rec["metric"],
            rec["value"], fixed, rec["origin"])
    for model in data.models.itertuples(index=False):
        for column, metric in layout.annotation_columns.items():
            value = getattr(model, f"published_{metric}")
            if value is not None and not math.isnan(value):
                add(model.id, model.dataset, ANNOTATION, metric, column, float(value), {},
                    model.published_source if _present(model.published_source) else "card")
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    frame = frame.assign(_unmatched=frame.measured.isna())
    return frame.sort_values(["_unmatched", "published_model", "attack", "metric", "published_column",
                              "measured_params_hash"], kind="stable", na_position="first") \
        .drop(columns="_unmatched").reset_index(drop=True)


def comparison_summary(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per attack and metric: how many published values, how many measured, and how far they differ."""
    rows = []
    for (attack, metric, column), part in comparison.groupby(["attack", "metric", "published_column"], sort=True):
        paired = part.dropna(subset=["measured"])
        rho = np.nan
        if len(paired) >= 3 and paired.published.nunique() > 1 and paired.measured.nunique() > 1:
            rho = float(paired[["published", "measured"]].corr(method="spearman").iloc[0, 1])
        rows.append({
            "attack": attack, "metric": metric, "published_column": column,
            "published_values": int(part.published_model.nunique()), "measured_pairs": len(paired),
            "mean_difference": float(paired.difference.mean()) if len(paired) else np.nan,
            "mean_abs_difference": float(paired.difference.abs().mean()) if len(paired) else np.nan,
            "max_abs_difference": float(paired.difference.abs().max()) if len(paired) else np.nan,
            "spearman_published_measured": rho,
        })
    return pd.DataFrame(rows, columns=["attack", "metric", "published_column", "published_values",
                                       "measured_pairs", "mean_difference", "mean_abs_difference",
                                       "max_abs_difference", "spearman_published_measured"])


# --- the SecurityNet database layout -----------------------------------------------------------------


def _measured_column_values(index: MeasuredIndex, model_id: str, layout: TableLayout) -> dict[str, float]:
    """Published column -> measured value of this model (the parameter set with the most seeds)."""
    values: dict[str, float] = {}
    for column, spec in layout.attack_columns.items():
        found = index.candidates(model_id, spec.attack, spec.metric, spec.params)
        if found:
            best = min(found, key=lambda rec: (-rec["n_seeds"], rec["params_hash"]))
            values[column] = float(best["value"])
    return values


def layout_records(data: AnalysisData, agg: pd.DataFrame, annotations: pd.DataFrame,
                   layout: TableLayout) -> list[dict[str, Any]]:
    """One record per model in the Benchmark table's columns, each value with its origin.

    A published card and the model it names in ``same_as`` make one row (the published card's metadata,
    measured values where there are any); every other model is its own row. Values are
    ``(value, "measured" | "published" | None)``.
    """
    twins = counterpart(data.models)
    index = MeasuredIndex(agg)
    published_by_model = {m: part for m, part in agg[(agg.origin != MEASURED) & agg.value.notna()].groupby("model_id")}
    represented = {m for p, m in twins.items() if m != p}
    measured_annotation = annotations.set_index("model_id") if not annotations.empty else pd.DataFrame()
    records = []
    models = data.models.set_index("id", drop=False)
    for model in data.models.itertuples(index=False):
        if model.id in represented and model.source != "published":
            continue  # shown in its published card's row
        measured_id = twins.get(model.id, model.id)
        record: dict[str, Any] = {"_id": model.id, "_measured_id": measured_id}
        meta = model
        if measured_id != model.id and measured_id in models.index and not _present(model.num_classes):
            meta = models.loc[measured_id]
        record["Model Name"] = (model.name, None)
        record["Model Type"] = (model.model_type if _present(model.model_type) else model.family, None)
        record["Data Name"] = (layout.dataset_names.get(model.dataset, model.dataset), None)
        record["Data Category"] = (model.data_category, None)
        record["Num Class"] = (_int(meta.num_classes), None)
        record["Training Size"] = (_int(meta.train_size), None)
        measured = _measured_column_values(index, measured_id, layout)
        for column, metric in layout.annotation_columns.items():
            value = None
            if measured_id in measured_annotation.index:
                value = measured_annotation.at[measured_id, metric]
            if _present(value):
                record[column] = (float(value), MEASURED)
            else:
                published = getattr(model, f"published_{metric}")
                record[column] = (float(published), "published") if _present(published) else (None, None)
        published_values = _published_column_values(published_by_model.get(model.id), layout)
        for column in layout.attack_columns:
            if column in measured:
                record[column] = (measured[column], MEASURED)
            elif column in published_values:
                record[column] = (published_values[column], "published")
            else:
                record[column] = (None, None)
        record["Conference"] = (model.venue, None)
        record["Conference Type"] = (model.venue_type, None)
        record["Year"] = (_int(model.year), None)
        record["Country"] = (model.country, None)
        record["Num Authors"] = (_int(model.num_authors), None)
        record["Purpose"] = (model.purpose, None)
        record["Paper Link"] = (model.paper_url, None)
        record["Weights"] = (model.weights_url, None)
        records.append(record)
    return records


def _published_column_values(frame: pd.DataFrame | None, layout: TableLayout) -> dict[str, float]:
    values: dict[str, float] = {}
    if frame is None:
        return values
    for rec in frame.to_dict("records"):
        column = _column_for(layout, rec["attack"], rec["params"], rec["metric"])
        if column:
            values[column] = float(rec["value"])
    return values


def render_layout_markdown(records: list[dict[str, Any]], layout: TableLayout, *, missing: str = MISSING) -> str:
    """The records as a pipe table in the layout's columns (the layout writes it; measured values in bold)."""
    cleaned = [{column: (cell[0] if _present(cell[0]) else None, cell[1]) for column, cell in record.items()
                if not column.startswith("_")} for record in records]
    return layout.render_markdown(cleaned, missing=missing)


def layout_frame(records: list[dict[str, Any]], layout: TableLayout) -> pd.DataFrame:
    """The records as a frame: the published columns, plus ``<column> origin`` for every number."""
    rows = []
    for record in records:
        row: dict[str, Any] = {"model_id": record["_id"], "measured_model_id": record["_measured_id"]}
        for column in layout.columns:
            value, origin = record.get(column, (None, None))
            row[column] = value
            if column in layout.float_columns:
                row[f"{column} origin"] = origin
        rows.append(row)
    return pd.DataFrame(rows)


def _present(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _int(value: Any) -> int | None:
    return int(value) if _present(value) else None
