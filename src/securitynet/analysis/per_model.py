"""One value per model and result: seeds averaged, annotations chosen, metadata covariates joined.

A model's covariates (train/test accuracy, overfit gap) are the measured annotation where there is one
and the published annotation otherwise (its own card's, or that of the published card that names it in
``same_as``); the ``*_source`` columns say which, so a correlation never mixes the two silently.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from securitynet.analysis.frames import ANNOTATION, ANNOTATION_METRICS, MEASURED, AnalysisData

# attack_family goes with attack (the store's declaration of it), so it never splits a group.
GROUP_KEYS = ["model_id", "attack", "attack_family", "origin", "variant", "params_hash", "metric"]


def aggregate(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds of each (model, attack, origin, params, metric).

    ``value`` is NaN when no seed measured it (``missing_reason`` then says why); ``n_seeds`` counts the
    measured seeds only.
    """
    if results.empty:
        return pd.DataFrame(columns=[*GROUP_KEYS, "params", "value", "std", "n_seeds", "seeds", "missing_reason",
                                     "weight_hash", "attack_version"])
    sizes = results.groupby(GROUP_KEYS, sort=False, dropna=False).model_id.transform("size")
    single = results[sizes == 1]
    # Most groups hold one seed: take them as they are (fast), aggregate only the others.
    parts = [pd.DataFrame({
        **{key: single[key] for key in GROUP_KEYS},
        "params": single.params, "value": single.value, "std": np.nan,
        "n_seeds": single.value.notna().astype(int),
        "seeds": single.seed.map(lambda v: "" if pd.isna(v) else str(int(v))),
        "missing_reason": single.missing_reason.where(single.missing_reason.notna(), None),
        "weight_hash": single.weight_hash.where(single.weight_hash.notna(), None),
        "attack_version": single.attack_version,
    })]
    several = results[sizes > 1]
    if not several.empty:
        parts.append(several.groupby(GROUP_KEYS, sort=False, dropna=False).agg(
            params=("params", "first"),
            value=("value", "mean"),
            std=("value", "std"),
            n_seeds=("value", "count"),
            seeds=("seed", lambda s: ",".join(str(v) for v in sorted(s.dropna().astype(int)))),
            missing_reason=("missing_reason", lambda s: "; ".join(sorted({str(v) for v in s.dropna()})) or None),
            weight_hash=("weight_hash", lambda s: ",".join(sorted({str(v) for v in s.dropna()})) or None),
            attack_version=("attack_version", "first"),
        ).reset_index())
    frame = pd.concat(parts, ignore_index=True).sort_values(GROUP_KEYS, kind="stable").reset_index(drop=True)
    frame.loc[frame.n_seeds == 0, "value"] = np.nan
    frame.loc[frame.value.notna(), "missing_reason"] = None
    return frame


def _annotation_size(params: str) -> float:
    """How many images an annotation measured on, as far as its parameters say: legacy jobs stored the resolved
    sizes; the engine's jobs store the request, where no ``max_images`` cap means every image of both splits."""
    data = json.loads(params)
    if "n_member" in data or "n_test" in data:
        return int(data.get("n_member") or 0) + int(data.get("n_test") or 0)
    cap = data.get("max_images")
    return math.inf if cap is None else 2 * int(cap)


def measured_annotations(agg: pd.DataFrame) -> pd.DataFrame:
    """Per model, the measured annotation on the most images (ties: the first parameter hash)."""
    frame = agg[(agg.attack == ANNOTATION) & (agg.origin == MEASURED) & agg.metric.isin(ANNOTATION_METRICS)]
    if frame.empty:
        return pd.DataFrame(columns=["model_id", *ANNOTATION_METRICS, "annotation_params_hash"])
    frame = frame.assign(size=frame.params.map(_annotation_size))
    best = (frame.sort_values(["model_id", "size", "params_hash"], ascending=[True, False, True], kind="stable")
            .drop_duplicates("model_id")[["model_id", "params_hash"]])
    chosen = frame.merge(best, on=["model_id", "params_hash"])
    wide = chosen.pivot(index="model_id", columns="metric", values="value").reindex(columns=list(ANNOTATION_METRICS))
    wide["annotation_params_hash"] = best.set_index("model_id").params_hash
    return wide.reset_index()


def covariates(data: AnalysisData, agg: pd.DataFrame) -> pd.DataFrame:
    """One row per model: catalog metadata plus train/test accuracy and overfit gap with their source."""
    models = data.models.copy()
    published = models.set_index("id")[["published_train_accuracy", "published_test_accuracy",
                                        "published_overfit_gap"]]
    # A measured model inherits the published annotation of the published card that names it.
    twins = models.dropna(subset=["same_as"]).drop_duplicates("same_as").set_index("same_as")
    measured = measured_annotations(agg).set_index("model_id")
    rows = []
    for model in models.itertuples(index=False):
        row = {"model_id": model.id}
        for name in ANNOTATION_METRICS:
            value, source = np.nan, None
            if model.id in measured.index and pd.notna(measured.at[model.id, name]):
                value, source = float(measured.at[model.id, name]), MEASURED
            else:
                own = published.at[model.id, f"published_{name}"]
                twin = twins.at[model.id, f"published_{name}"] if model.id in twins.index else np.nan
                if pd.notna(own):
                    value, source = float(own), "published"
                elif pd.notna(twin):
                    value, source = float(twin), "published"
            row[name] = value
            row[f"{name}_source"] = source
        rows.append(row)
    annotations = pd.DataFrame(rows, columns=["model_id", *[c for n in ANNOTATION_METRICS for c in (n, f"{n}_source")]])
    meta = models.rename(columns={"id": "model_id"})[[
        "model_id", "name", "source", "dataset", "family", "purpose", "public", "venue", "venue_type", "year",
        "num_classes", "train_size", "backdoored", "same_as",
    ]]
    return meta.merge(annotations, on="model_id", how="left").sort_values("model_id", kind="stable") \
        .reset_index(drop=True)


def series_label(attack: str, variant: str) -> str:
    return f"{attack} [{variant}]" if variant else attack
