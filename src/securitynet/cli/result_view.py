"""The headline view of results, shared by `results`, `catalog show`, `evaluate` and `annotate`.

Rows are plain dicts: ``model_id``, ``attack``, ``variant`` (the parameters that tell the variants of an
attack apart), a seed column, then metric values by metric name and published ones as
``published_<metric>``. As a table, rows are grouped by the attacks' headline metrics (membership,
stealing, backdoor, annotation...), one table per group with only those metrics (and a published column
where the group has a published value); ``all_metrics`` instead lists every metric, one per line. JSON
and CSV carry every column of every row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from securitynet.cli.output import Column, emit

PUBLISHED_PREFIX = "published_"
# Short table headings; the full names stay in JSON and CSV.
METRIC_LABELS: dict[str, str] = {
    "tpr_at_1pct_fpr": "tpr@1%fpr",
    "tpr_at_0.1pct_fpr": "tpr@0.1%fpr",
    "balanced_accuracy": "bal. acc",
    "suspected_target": "target",
    "train_accuracy": "train acc",
    "test_accuracy": "test acc",
    "overfit_gap": "gap",
}
METRIC_KINDS: dict[str, str] = {"flagged": "bool", "suspected_target": "int", "target_hit": "bool"}
FAMILY_TITLES: dict[str, str] = {
    "mia": "membership inference", "stealing": "model stealing", "backdoor": "backdoor detection",
    "annotation": "annotation",
}
# Parameter values too long for a table cell, and the short form tables show (JSON and CSV keep the long one).
SHORT_VALUES: dict[str, str] = {"out-of-distribution": "ood", "in-distribution": "in-dist"}
NOT_METRICS = frozenset({"model_id", "attack", "variant", "attack_version", "params_hash", "params", "seed",
                         "n_seeds", "seeds", "status", "error", "job_key", "run_id"})


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def metric_names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every metric that appears in the rows, in first-seen order (published columns not counted)."""
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in NOT_METRICS and not key.startswith(PUBLISHED_PREFIX):
                names.setdefault(key)
            elif key.startswith(PUBLISHED_PREFIX):
                names.setdefault(key[len(PUBLISHED_PREFIX):])
    return list(names)


def emit_results(rows: Sequence[Mapping[str, Any]], fmt: str, *, headline: Mapping[str, Sequence[str]],
                 all_metrics: bool = False, seed_key: str = "seeds", extra: Sequence[Column] = (),
                 title: str = "results") -> None:
    """Print result rows in ``fmt``: headline tables (or the every-metric list), JSON, CSV or JSON lines."""
    from securitynet.analysis.results import headline_of

    if str(fmt) != "table":
        emit(rows, machine_columns(rows, seed_key=seed_key, extra=extra), fmt)
        return
    undeclared = [row for row in rows if not headline_of(str(row["attack"]), headline)]
    if all_metrics or undeclared:
        # One line per metric: every metric, or those of attacks that name no headline (any number fits).
        long = _long_rows(rows if all_metrics else undeclared, seed_key)
        columns = _key_columns(long, seed_key) + [Column("metric"), Column("value", kind="number", digits=4)]
        if any(_has(row, "published") for row in long):
            columns.append(Column("published", "pub.", kind="number", digits=4))
        emit(long, columns, "table", title=f"{title}: every metric{_notes(long, seed_key)}")
        if all_metrics:
            return
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        declared = headline_of(str(row["attack"]), headline)
        if declared:
            groups.setdefault(declared, []).append(row)
    for metrics, members in groups.items():
        columns = _key_columns(members, seed_key)
        for metric in metrics:
            kind: Any = METRIC_KINDS.get(metric, "number")
            columns.append(Column(metric, metric_label(metric), kind=kind))
            if any(_has(row, f"{PUBLISHED_PREFIX}{metric}") for row in members):
                columns.append(Column(f"{PUBLISHED_PREFIX}{metric}", "pub.", kind=kind))
        columns += [c for c in extra if c.show]
        shown = [{**row, "variant": short_variant(row.get("variant"))} for row in members]
        emit(shown, columns, "table", title=f"{title}: {_group_title(members)}{_notes(members, seed_key)}")


def _key_columns(rows: Sequence[Mapping[str, Any]], seed_key: str) -> list[Column]:
    """Model and attack unless every row has the same (the title names it); the variant when any row has one;
    the seeds when they differ between rows."""
    columns = [column for column in (Column("model_id", "model", kind="id"), Column("attack", kind="id"))
               if len(rows) < 2 or len({row.get(column.key) for row in rows}) > 1]
    if any(row.get("variant") for row in rows):
        columns.append(Column("variant"))
    if len({_seed_text(row.get(seed_key)) for row in rows}) > 1:
        columns.append(Column(seed_key, "seed" if seed_key == "seed" else "seeds",
                              kind="int" if seed_key == "seed" else "text"))
    return columns


def _notes(rows: Sequence[Mapping[str, Any]], seed_key: str) -> str:
    """What every row shares (model, attack, seeds), said once after the title instead of repeated in a column."""
    notes = []
    if len(rows) > 1:
        for key in ("model_id", "attack"):
            values = {str(row.get(key)) for row in rows}
            if len(values) == 1 and (value := next(iter(values))) not in FAMILY_TITLES:
                notes.append(value)
    seeds = {_seed_text(row.get(seed_key)) for row in rows}
    if len(seeds) == 1 and (value := next(iter(seeds))):
        notes.append(f"seeds {value}" if "," in value else f"seed {value}")
    return f" ({'; '.join(notes)})" if notes else ""


def short_variant(variant: Any) -> Any:
    """A variant label with long parameter values in their short form (``query_set=ood``), for tables."""
    if not isinstance(variant, str):
        return variant
    for long, short in SHORT_VALUES.items():
        variant = variant.replace(f"={long}", f"={short}")
    return variant


def _seed_text(value: Any) -> str:
    return "" if value is None or value != value else str(value)


def machine_columns(rows: Sequence[Mapping[str, Any]], *, seed_key: str = "seeds",
                    extra: Sequence[Column] = ()) -> list[Column]:
    """Every column of the rows for JSON and CSV: keys first, then each metric beside its published value."""
    keys = [k for k in ("model_id", "attack", "variant", "attack_version", "params_hash", "params") if
            any(k in row for row in rows)]
    seeds = [k for k in ("seed", "n_seeds", "seeds") if any(k in row for row in rows)] or [seed_key]
    values: list[str] = []
    for metric in metric_names(rows):
        if any(metric in row for row in rows):
            values.append(metric)
        if any(f"{PUBLISHED_PREFIX}{metric}" in row for row in rows):
            values.append(f"{PUBLISHED_PREFIX}{metric}")
    known = {*keys, *seeds, *values}
    return [Column(k) for k in (*keys, *seeds, *values)] + [c for c in extra if c.key not in known]


def _has(row: Mapping[str, Any], metric: str) -> bool:
    value = row.get(metric)
    return value is not None and value == value  # NaN is not a value


def _group_title(rows: Sequence[Mapping[str, Any]]) -> str:
    families = dict.fromkeys(str(row["attack"]).split(".", 1)[0] for row in rows)
    return ", ".join(FAMILY_TITLES.get(f, f) for f in families)


def _long_rows(rows: Sequence[Mapping[str, Any]], seed_key: str) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        for metric in metric_names([row]):
            value, published = row.get(metric), row.get(f"{PUBLISHED_PREFIX}{metric}")
            if _has(row, metric) or _has(row, f"{PUBLISHED_PREFIX}{metric}"):
                out.append({"model_id": row["model_id"], "attack": row["attack"],
                            "variant": short_variant(row.get("variant")),
                            seed_key: row.get(seed_key), "metric": metric_label(metric), "value": value,
                            "published": published})
    return out


def frame_rows(frame: Any) -> list[dict[str, Any]]:
    """A results DataFrame as row dicts (params parsed from JSON text when stored as text)."""
    rows = frame.to_dict("records")
    for row in rows:
        if isinstance(row.get("params"), str):
            row["params"] = json.loads(row["params"])
    return rows
