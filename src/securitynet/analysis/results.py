"""What was measured: one row per model x attack variant (x seed), metric values as columns, published beside.

The query behind ``securitynet results`` and ``securitynet.results(...)``. It reads the store only (no torch):
which metrics count as an attack's headline is handed in by the caller (the attack classes declare them).

Columns: ``model_id``, ``attack``, ``variant`` (the parameters that differ between the variants of that attack
in the selection, e.g. ``query_set=ood``), ``attack_version``, ``params_hash``, ``params`` (dict), ``seed``
(with ``seeds="all"``; ``None`` for a published value) or ``n_seeds`` and ``seeds`` (averaged), then one
column per metric (the mean over seeds; NaN where not measured) and, with ``published=True``, a
``published_<metric>`` column for each metric the published SecurityNet table (or the card) reports.
A published value sits beside the measured variant whose parameters include those the published column
fixes (``analysis.published.params_match``); one that no measurement matches gets its own row (its
measured columns NaN), so nothing published is hidden.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from securitynet.analysis.frames import (
    ANNOTATION,
    ANNOTATION_METRICS,
    MEASURED,
    load_models,
    load_results,
    variant_labels,
)
from securitynet.analysis.per_model import aggregate
from securitynet.analysis.published import counterpart, params_match

SeedMode = Literal["mean", "all"]
KEY_COLUMNS = ["model_id", "attack", "variant", "attack_version", "params_hash", "params"]
PUBLISHED_PREFIX = "published_"
NO_SEED = -1
# Annotation is not an attack class; its headline is fixed here.
ANNOTATION_HEADLINE: tuple[str, ...] = ANNOTATION_METRICS


def results_table(
    store: Any,
    model_ids: Iterable[str] | None = None,
    attacks: Sequence[str] | None = None,
    *,
    seeds: SeedMode = "mean",
    headline: Mapping[str, Sequence[str]] | None = None,
    all_metrics: bool = False,
    published: bool = True,
) -> pd.DataFrame:
    """The stored measurements of ``model_ids`` (None: every model) for attacks matching the ``attacks`` globs.

    ``headline``: attack name -> the metrics to keep (unless ``all_metrics``); an attack missing from it, or
    with an empty tuple, keeps every metric. Rows are sorted by model, attack, variant and seed.
    """
    if seeds not in ("mean", "all"):
        raise ValueError(f"seeds must be 'mean' or 'all', got {seeds!r}")
    models = load_models(store)
    wanted = set(models.id) if model_ids is None else set(model_ids)
    twins = {p: m for p, m in counterpart(models).items() if m in wanted}
    results = load_results(store, wanted | set(twins))
    if attacks:
        results = results[results.attack.map(lambda name: any(fnmatch.fnmatchcase(name, g) for g in attacks))]
    measured = results[(results.origin == MEASURED) & results.model_id.isin(wanted)]
    frame = _wide(measured, seeds)
    if published:
        frame = _with_published(frame, results, models, twins, wanted, attacks)
    published_metrics = {c[len(PUBLISHED_PREFIX):] for c in frame.columns if c.startswith(PUBLISHED_PREFIX)}
    metrics_by_attack = {attack: set(part.metric) for attack, part in measured.groupby("attack")}
    for column in (c for c in frame.columns if c.startswith(PUBLISHED_PREFIX)):
        for attack in frame.attack[frame[column].notna()].unique():
            metrics_by_attack.setdefault(attack, set()).add(column[len(PUBLISHED_PREFIX):])
    kept = _kept_metrics(metrics_by_attack, headline, all_metrics)
    seed_columns = ["seed"] if seeds == "all" else ["n_seeds", "seeds"]
    value_columns = []
    for metric in kept:
        value_columns.append(metric)
        if metric in published_metrics:
            value_columns.append(f"{PUBLISHED_PREFIX}{metric}")
    ordered = [*KEY_COLUMNS, *seed_columns, *value_columns]
    frame = frame.reindex(columns=ordered)
    frame["params"] = frame.params.map(json.loads)
    frame[value_columns] = frame[value_columns].astype(float)
    if not all_metrics:  # an attack's row shows its own headline only, even where another attack kept more
        for attack in frame.attack.unique():
            declared = headline_of(attack, headline)
            hidden = [c for c in value_columns if declared and c.removeprefix(PUBLISHED_PREFIX) not in declared]
            frame.loc[frame.attack == attack, hidden] = np.nan
    sort = ["model_id", "attack", "variant", "params_hash", *(["seed"] if seeds == "all" else [])]
    return frame.sort_values(sort, kind="stable", na_position="last").reset_index(drop=True)


def split_globs(attacks: str | Iterable[str] | None) -> list[str] | None:
    """``'mia.*,stealing.*'`` or a list of globs -> the list of globs (None: every attack)."""
    if attacks is None:
        return None
    items = [attacks] if isinstance(attacks, str) else list(attacks)
    globs = [g.strip() for item in items for g in item.split(",") if g.strip()]
    return globs or None


def headline_of(attack: str, headline: Mapping[str, Sequence[str]] | None) -> tuple[str, ...]:
    """The headline metrics of an attack (annotation included); empty when it declares none."""
    if attack == ANNOTATION:
        return ANNOTATION_HEADLINE
    return tuple((headline or {}).get(attack, ()))


def _kept_metrics(metrics_by_attack: Mapping[str, set[str]], headline: Mapping[str, Sequence[str]] | None,
                  all_metrics: bool) -> list[str]:
    """Metric columns in order: each attack's headline metrics, then its others (every one for an attack that
    declares no headline, or with ``all_metrics``)."""
    ordered: list[str] = []
    for attack in sorted(metrics_by_attack):
        declared = headline_of(attack, headline)
        ordered += [m for m in declared if m not in ordered]
    for attack, metrics in sorted(metrics_by_attack.items()):
        if all_metrics or not headline_of(attack, headline):
            ordered += [m for m in sorted(metrics) if m not in ordered]
    return ordered


def _wide(measured: pd.DataFrame, seeds: SeedMode) -> pd.DataFrame:
    """Long results -> one row per model, attack, parameter set (and seed), metrics as columns."""
    index = list(KEY_COLUMNS)
    if measured.empty:
        return pd.DataFrame(columns=[*index, "seed", "n_seeds", "seeds"])
    if seeds == "all":
        # A job without a seed (annotation) must survive the pivot, which drops missing keys.
        long = measured.assign(seed=measured.seed.fillna(NO_SEED).astype(int))
        index.append("seed")
    else:
        long = aggregate(measured)
        group = long.groupby(index, sort=False)
        long = long.assign(n_seeds=group.n_seeds.transform("max"),
                           seeds=group.seeds.transform(lambda s: max(s, key=len)))
        index += ["n_seeds", "seeds"]
    wide = long.groupby([*index, "metric"], sort=False).value.first().unstack("metric")
    wide.columns.name = None
    wide = wide.reset_index()
    if seeds == "all":
        wide["seed"] = wide.seed.astype(object).where(wide.seed != NO_SEED, None)
    return wide


def _with_published(frame: pd.DataFrame, results: pd.DataFrame, models: pd.DataFrame, twins: dict[str, str],
                    wanted: set[str], attacks: Sequence[str] | None) -> pd.DataFrame:
    """Add ``published_<metric>`` beside the measured variant it describes; unmatched values get their own row."""
    frame = frame.reset_index(drop=True)
    # Row positions by (model, attack), so thousands of published values each look at a few rows only.
    positions: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    for i, (model, attack, params) in enumerate(zip(frame.model_id, frame.attack, frame.params, strict=True)):
        positions.setdefault((model, attack), []).append((i, json.loads(params)))
    columns: dict[str, list[float]] = {}
    extra: list[dict[str, Any]] = []
    for rec in _published_values(results, models, twins, wanted, attacks):
        column = columns.setdefault(f"{PUBLISHED_PREFIX}{rec['metric']}", [np.nan] * len(frame))
        hits = [i for i, params in positions.get((rec["model_id"], rec["attack"]), [])
                if params_match(rec["fixed"], params)]
        for i in hits:
            column[i] = rec["value"]
        if not hits:
            extra.append(rec)
    frame = frame.assign(**columns)
    if extra:
        frame = pd.concat([frame, _published_rows(extra)], ignore_index=True)
    return frame


def _published_values(results: pd.DataFrame, models: pd.DataFrame, twins: dict[str, str], wanted: set[str],
                      attacks: Sequence[str] | None) -> list[dict[str, Any]]:
    """Every published value of the selected models: result rows of their published cards, and card annotations."""
    values = []
    published = results[(results.origin != MEASURED) & results.value.notna()]
    for rec in published.to_dict("records"):
        model = twins.get(rec["model_id"], rec["model_id"])
        if model in wanted:
            values.append({"model_id": model, "attack": rec["attack"], "metric": rec["metric"],
                           "value": float(rec["value"]), "fixed": json.loads(rec["params"]),
                           "attack_version": rec["attack_version"], "params_hash": rec["params_hash"]})
    if attacks and not any(fnmatch.fnmatchcase(ANNOTATION, g) for g in attacks):
        return values
    by_id = models.set_index("id")
    for card_id in sorted(set(by_id.index) & (wanted | set(twins))):
        model = twins.get(card_id, card_id)
        for metric in ANNOTATION_METRICS:
            value = by_id.at[card_id, f"published_{metric}"]
            if pd.notna(value):
                values.append({"model_id": model, "attack": ANNOTATION, "metric": metric, "value": float(value),
                               "fixed": {}, "attack_version": None, "params_hash": None})
    return values


def _published_rows(values: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (model, attack, published parameter set) for published values nothing measured matches."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec in values:
        params = json.dumps(rec["fixed"], sort_keys=True, separators=(",", ":"))
        row = rows.setdefault((rec["model_id"], rec["attack"], params), {
            "model_id": rec["model_id"], "attack": rec["attack"], "variant": "published",
            "attack_version": rec["attack_version"], "params_hash": rec["params_hash"], "params": params,
            "n_seeds": 0, "seeds": "", "seed": None,
        })
        row[f"{PUBLISHED_PREFIX}{rec['metric']}"] = rec["value"]
    # Published runs of one attack told apart like measured variants: by the parameters that differ.
    for attack in {attack for _, attack, _ in rows}:
        keys = [key for key in rows if key[1] == attack]
        labels = variant_labels({params: json.loads(params) for _, _, params in keys})
        for key in keys:
            rows[key]["variant"] = labels[key[2]]
    return pd.DataFrame(list(rows.values()))
