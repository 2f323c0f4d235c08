"""Backdoor-detection metrics over models, recomputed from stored per-model results for any subset of models.

Every detector stores, per model, ``score`` (higher means "backdoored"), ``flagged`` (0/1, where it gives a
verdict), and where it names one ``suspected_target`` and ``target_hit`` (1 when the suspected label is the
card's true target, None when that is unknown). From a long-form results frame (one row per model, attack and
metric, as ``Store.results_frame`` returns it) and the models' ground truth (their cards), this module gives:

- model-level ``auroc`` of the score over clean against backdoored models (sklearn ``roc_auc_score``; ties
  count one half), None unless both kinds are present;
- ``target_hit_rate``: the share of backdoored models with a known target whose target the detector named;
- ``tpr`` and ``fpr``: the share of backdoored and of clean models flagged.

A model whose ground truth is unknown (no ``backdoor`` on its card) is left out and counted. Scores of the
same model over several seeds are averaged first, so every model counts once. Nothing here reads the store:
analysis passes the frame and the cards in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from securitynet.catalog.card import ModelCard

# What a reader looks at first in a backdoor-detection result: the verdict, its score, the label it names.
HEADLINE_METRICS = ("flagged", "score", "suspected_target")

SUMMARY_COLUMNS = [
    "attack", "params_hash", "n_models", "n_clean", "n_backdoored", "n_unknown", "auroc", "tpr", "fpr",
    "target_hit_rate", "n_target_known", "mean_score_clean", "mean_score_backdoored", "note",
]


def truth_of(card: ModelCard) -> bool | None:
    """True backdoored, False clean (``attack: none``), None unknown."""
    if card.backdoor is None:
        return None
    return card.backdoor.attack != "none"


def _truth_table(cards: Iterable[ModelCard] | Mapping[str, Any]) -> dict[str, bool | None]:
    if isinstance(cards, Mapping):
        table = {}
        for model_id, value in cards.items():
            table[str(model_id)] = truth_of(value) if isinstance(value, ModelCard) else (
                None if value is None or (isinstance(value, float) and np.isnan(value)) else bool(value)
            )
        return table
    return {card.id: truth_of(card) for card in cards}


def model_level_auroc(scores: Any, backdoored: Any) -> float | None:
    """AUROC of scores (higher: backdoored) over models; None without both clean and backdoored models."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(backdoored, dtype=bool)
    if truth.all() or not truth.any():
        return None
    return float(roc_auc_score(truth, scores))


def backdoor_model_level_auroc(
    results_frame: pd.DataFrame,
    cards: Iterable[ModelCard] | Mapping[str, Any],
    *,
    score_metric: str = "score",
    attack_prefix: str = "backdoor.",
    model_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per detector (attack and parameter hash): model-level AUROC, TPR/FPR, target-hit rate.

    ``results_frame`` needs columns ``model_id``, ``attack``, ``metric``, ``value`` (``params_hash`` when present
    keeps differently configured runs apart). ``cards``: the models' cards, or a mapping model id -> card or
    backdoored flag. ``model_ids`` restricts the computation to a subset of models.
    """
    truth = _truth_table(cards)
    frame = results_frame[results_frame["attack"].astype(str).str.startswith(attack_prefix)]
    if model_ids is not None:
        frame = frame[frame["model_id"].isin(set(model_ids))]
    keys = ["attack", "params_hash"] if "params_hash" in frame.columns else ["attack"]
    rows = []
    for key, part in frame.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        wide = part.pivot_table(index="model_id", columns="metric", values="value", aggfunc="mean", dropna=False)
        row = _summarise(wide, truth, score_metric)
        row.update(dict(zip(keys, key, strict=True)))
        rows.append(row)
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return out


def _summarise(wide: pd.DataFrame, truth: dict[str, bool | None], score_metric: str) -> dict[str, Any]:
    known = [m for m in wide.index if truth.get(m) is not None]
    unknown = len(wide.index) - len(known)
    labels = np.array([bool(truth[m]) for m in known], dtype=bool)
    row: dict[str, Any] = {"n_models": len(wide.index), "n_unknown": unknown, "n_clean": int((~labels).sum()),
                           "n_backdoored": int(labels.sum()), "auroc": None, "tpr": None, "fpr": None,
                           "target_hit_rate": None, "n_target_known": 0, "mean_score_clean": None,
                           "mean_score_backdoored": None, "note": None}
    notes = []
    if score_metric in wide.columns:
        scores = wide.loc[known, score_metric].to_numpy(dtype=np.float64)
        measured = ~np.isnan(scores)
        row["auroc"] = model_level_auroc(scores[measured], labels[measured])
        if (measured & ~labels).any():
            row["mean_score_clean"] = float(scores[measured & ~labels].mean())
        if (measured & labels).any():
            row["mean_score_backdoored"] = float(scores[measured & labels].mean())
        if row["auroc"] is None:
            notes.append("AUROC needs clean and backdoored models with scores")
    else:
        notes.append(f"no {score_metric!r} stored")
    if "flagged" in wide.columns:
        flags = wide.loc[known, "flagged"].to_numpy(dtype=np.float64)
        if (~np.isnan(flags) & labels).any():
            row["tpr"] = float(np.nanmean(flags[labels]))
        if (~np.isnan(flags) & ~labels).any():
            row["fpr"] = float(np.nanmean(flags[~labels]))
    if "target_hit" in wide.columns:
        hits = wide.loc[[m for m in known if truth[m]], "target_hit"].to_numpy(dtype=np.float64)
        hits = hits[~np.isnan(hits)]
        row["n_target_known"] = int(len(hits))
        row["target_hit_rate"] = float(hits.mean()) if len(hits) else None
    if unknown:
        notes.append(f"{unknown} model(s) without ground truth left out")
    row["note"] = "; ".join(notes) or None
    return row
