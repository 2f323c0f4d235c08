"""Statistics over stored results: distributions, correlations with model metadata, public versus
self-trained, and detection AUROC recomputed from per-model backdoor scores.

Correlations report Pearson and Spearman coefficients with scipy's p-values and percentile bootstrap
confidence intervals (pairs resampled with a fixed seed, so a report is reproducible). A statistic that
cannot be computed (too few models, a constant variable) is NaN with a ``note`` saying why, never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from securitynet.analysis.declarations import AttackDeclarations
from securitynet.analysis.frames import ANNOTATION, MEASURED, load_analysis_data
from securitynet.analysis.per_model import aggregate, covariates

NUMERIC_COVARIATES = ("test_accuracy", "overfit_gap", "num_classes", "train_size", "year")
CATEGORICAL_COVARIATES = ("venue_type", "purpose")
DISTRIBUTION_GROUPS = ("dataset", "family", "purpose")
MIN_PAIRS = 3
N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Correlation:
    n: int
    pearson_r: float
    pearson_p: float
    pearson_ci_low: float
    pearson_ci_high: float
    spearman_rho: float
    spearman_p: float
    spearman_ci_low: float
    spearman_ci_high: float
    note: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _nan_correlation(n: int, note: str) -> Correlation:
    nan = float("nan")
    return Correlation(n, nan, nan, nan, nan, nan, nan, nan, nan, note)


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (B, n) arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * yc).sum(axis=1) / denom, np.nan)


def _bootstrap_ranks(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) within each resample ``values[index[b]]``, without sorting
    every resample: count how often each distinct value was drawn and accumulate."""
    distinct, codes_of = np.unique(values, return_inverse=True)
    codes = codes_of[index]
    n_boot, width = codes.shape[0], len(distinct)
    flat = (codes + np.arange(n_boot)[:, None] * width).ravel()
    counts = np.bincount(flat, minlength=n_boot * width).reshape(n_boot, width).astype(float)
    average = np.cumsum(counts, axis=1) - (counts - 1) / 2
    return np.take_along_axis(average, codes, axis=1)


def correlate(x: Sequence[float], y: Sequence[float], *, n_boot: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED,
              confidence: float = CONFIDENCE) -> Correlation:
    """Pearson and Spearman correlation of paired values (pairs with a NaN dropped), with p-values and
    percentile bootstrap confidence intervals over resampled pairs."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = int(len(x))
    if n < MIN_PAIRS:
        return _nan_correlation(n, f"{n} model(s) with both values; at least {MIN_PAIRS} needed")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return _nan_correlation(n, "one of the two variables is constant over these models")
    pearson = sps.pearsonr(x, y)
    spearman = sps.spearmanr(x, y)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_boot, n))
    bx, by = x[index], y[index]
    boot_pearson = _row_pearson(bx, by)
    boot_spearman = _row_pearson(_bootstrap_ranks(x, index), _bootstrap_ranks(y, index))
    tail = (1 - confidence) / 2 * 100

    def interval(values: np.ndarray) -> tuple[float, float]:
        values = values[~np.isnan(values)]
        if len(values) < n_boot // 2:  # most resamples constant: an interval would mislead
            return float("nan"), float("nan")
        low, high = np.percentile(values, [tail, 100 - tail])
        return float(low), float(high)

    p_low, p_high = interval(boot_pearson)
    s_low, s_high = interval(boot_spearman)
    return Correlation(
        n=n, pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue), pearson_ci_low=p_low,
        pearson_ci_high=p_high, spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue),
        spearman_ci_low=s_low, spearman_ci_high=s_high,
        note="few models: p-values and intervals are rough" if n < 10 else None,
    )


def _attack_values(agg: pd.DataFrame, *, include_annotation: bool = False) -> pd.DataFrame:
    frame = agg if include_annotation else agg[agg.attack != ANNOTATION]
    return frame[["model_id", "attack", "origin", "variant", "metric", "value"]]


def metric_distributions(agg: pd.DataFrame, covariates: pd.DataFrame,
                         by: Sequence[str] = DISTRIBUTION_GROUPS) -> pd.DataFrame:
    """For every stored metric (annotation included), its distribution over models, overall and per
    value of each grouping column. Missing values are counted, not averaged in."""
    values = _attack_values(agg, include_annotation=True).merge(
        covariates[["model_id", *by]], on="model_id", how="left")
    keys = ["attack", "origin", "variant", "metric"]
    rows = []
    groupings = [("all", None), *[(column, column) for column in by]]
    for grouping, column in groupings:
        frame = values.assign(group="all") if column is None else values.assign(
            group=values[column].astype("string").fillna("(unknown)"))
        for (group, *key), part in frame.groupby(["group", *keys], sort=True, dropna=False):
            v = part.value.dropna().to_numpy(dtype=float)
            q = np.percentile(v, [0, 25, 50, 75, 100]) if len(v) else [np.nan] * 5
            rows.append({
                "grouping": grouping, "group": group, **dict(zip(keys, key, strict=True)),
                "n": len(v), "n_missing": int(part.value.isna().sum()),
                "mean": float(v.mean()) if len(v) else np.nan, "std": float(v.std(ddof=1)) if len(v) > 1 else np.nan,
                "min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4],
            })
    return pd.DataFrame(rows, columns=["grouping", "group", *keys, "n", "n_missing", "mean", "std", "min", "q25",
                                       "median", "q75", "max"])


def metadata_correlations(agg: pd.DataFrame, covariates: pd.DataFrame, *, per_dataset: bool = True,
                          n_boot: int = N_BOOTSTRAP) -> pd.DataFrame:
    """Correlation of every attack metric with each model covariate, over all models and per dataset.

    Numeric covariates: test accuracy, overfit gap, number of classes, training size, year. Categorical
    ones (venue type, purpose): each level against the rest as a 0/1 variable (point-biserial), plus a
    Kruskal-Wallis test across levels. Measured and published results are never pooled (``origin``).
    """
    values = _attack_values(agg).merge(covariates, on="model_id", how="left")
    keys = ["attack", "origin", "variant", "metric"]
    rows = []
    scopes = [("all", values)]
    if per_dataset:
        scopes += [(f"dataset={d}", part) for d, part in values.groupby("dataset", sort=True)]
    for scope, frame in scopes:
        for key, part in frame.groupby(keys, sort=True, dropna=False):
            base = {"scope": scope, **dict(zip(keys, key, strict=True))}
            if part.value.notna().sum() < MIN_PAIRS:
                continue
            for covariate in NUMERIC_COVARIATES:
                x = pd.to_numeric(part[covariate], errors="coerce").to_numpy(dtype=float)
                result = correlate(x, part.value.to_numpy(dtype=float), n_boot=n_boot)
                source = _covariate_source(part, covariate)
                rows.append({**base, "covariate": covariate, "level": None, "covariate_source": source,
                             **result.as_dict(), "kruskal_h": np.nan, "kruskal_p": np.nan})
            for covariate in CATEGORICAL_COVARIATES:
                rows.extend(_categorical_rows(base, part, covariate, n_boot))
    columns = ["scope", *keys, "covariate", "level", "covariate_source", *Correlation.__dataclass_fields__,
               "kruskal_h", "kruskal_p"]
    return pd.DataFrame(rows, columns=columns)


def _covariate_source(part: pd.DataFrame, covariate: str) -> str | None:
    column = f"{covariate}_source"
    if column not in part:
        return "catalog"
    used = part[part.value.notna() & part[covariate].notna()][column].dropna()
    counts = used.value_counts()
    return ", ".join(f"{name} ({count})" for name, count in sorted(counts.items())) or None


def _categorical_rows(base: dict[str, object], part: pd.DataFrame, covariate: str, n_boot: int) -> list[dict]:
    known = part[part[covariate].notna() & part.value.notna()]
    levels = sorted(known[covariate].astype(str).unique())
    rows = []
    if len(levels) < 2:
        return rows
    groups = [known.value[known[covariate].astype(str) == level].to_numpy(dtype=float) for level in levels]
    if np.unique(np.concatenate(groups)).size < 2:  # every value identical: the test is undefined
        h, p = np.nan, np.nan
    else:
        kruskal = sps.kruskal(*groups)
        h, p = float(kruskal.statistic), float(kruskal.pvalue)
    for level in levels:
        indicator = (known[covariate].astype(str) == level).astype(float).to_numpy()
        result = correlate(indicator, known.value.to_numpy(dtype=float), n_boot=n_boot)
        rows.append({**base, "covariate": covariate, "level": level, "covariate_source": "catalog",
                     **result.as_dict(), "kruskal_h": h, "kruskal_p": p})
    return rows


def membership_vs_overfit_gap(agg: pd.DataFrame, covariates: pd.DataFrame, *, metric: str = "auc",
                              n_boot: int = N_BOOTSTRAP) -> pd.DataFrame:
    """The paper's central relation: membership-inference AUC against the overfit gap, per attack
    (and parameter variant and origin), over all selected models."""
    frame = agg[(agg.metric == metric) & agg.attack_family.eq("membership")]
    frame = frame.merge(covariates[["model_id", "overfit_gap", "overfit_gap_source"]], on="model_id", how="left")
    rows = []
    for (attack, origin, variant), part in frame.groupby(["attack", "origin", "variant"], sort=True):
        result = correlate(part.overfit_gap.to_numpy(float), part.value.to_numpy(float), n_boot=n_boot)
        rows.append({"attack": attack, "origin": origin, "variant": variant, "metric": metric,
                     "overfit_gap_source": _covariate_source(part, "overfit_gap"), **result.as_dict()})
    columns = ["attack", "origin", "variant", "metric", "overfit_gap_source", *Correlation.__dataclass_fields__]
    frame = pd.DataFrame(rows, columns=columns)
    # Measured first: they are what this installation found.
    return frame.assign(_measured=frame.origin != MEASURED).sort_values(
        ["_measured", "attack", "origin", "variant"], kind="stable").drop(columns="_measured").reset_index(drop=True)


def bootstrap_mean_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOTSTRAP,
                              seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b), each group resampled on its own."""
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(da - db, [tail, 100 - tail])
    return float(low), float(high)


def public_vs_selftrained(agg: pd.DataFrame, covariates: pd.DataFrame, *, n_boot: int = N_BOOTSTRAP) -> pd.DataFrame:
    """Public models against self-trained ones, per dataset and overall, for every measured metric and for
    the annotation: means, their difference with a bootstrap interval, and a Mann-Whitney U test.

    The paper's argument is that results on self-trained models do not carry over to public ones; this
    table shows, where both kinds were measured, how far they differ.
    """
    values = agg[agg.origin == MEASURED].merge(covariates[["model_id", "public", "dataset"]], on="model_id")
    values = values[values.public.notna() & values.value.notna()]
    keys = ["attack", "variant", "metric"]
    rows = []
    scopes = [("all", values), *[(f"dataset={d}", p) for d, p in values.groupby("dataset", sort=True)]]
    for scope, frame in scopes:
        for key, part in frame.groupby(keys, sort=True):
            public = part.value[part.public.astype(bool)].to_numpy(float)
            selftrained = part.value[~part.public.astype(bool)].to_numpy(float)
            row = {"scope": scope, **dict(zip(keys, key, strict=True)), "n_public": len(public),
                   "n_selftrained": len(selftrained),
                   "mean_public": float(public.mean()) if len(public) else np.nan,
                   "mean_selftrained": float(selftrained.mean()) if len(selftrained) else np.nan,
                   "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "mannwhitney_p": np.nan, "note": None}
            if len(public) and len(selftrained):
                row["difference"] = row["mean_public"] - row["mean_selftrained"]
                row["ci_low"], row["ci_high"] = bootstrap_mean_difference(public, selftrained, n_boot=n_boot)
                if len(public) >= 2 and len(selftrained) >= 2:
                    row["mannwhitney_p"] = float(sps.mannwhitneyu(public, selftrained).pvalue)
                else:
                    row["note"] = "fewer than 2 models on one side: no test"
            else:
                row["note"] = "only public models" if len(public) else "only self-trained models"
            rows.append(row)
    return pd.DataFrame(rows, columns=["scope", *keys, "n_public", "n_selftrained", "mean_public",
                                       "mean_selftrained", "difference", "ci_low", "ci_high", "mannwhitney_p",
                                       "note"])


def backdoor_detection(agg: pd.DataFrame, covariates: pd.DataFrame, attacks: AttackDeclarations) -> pd.DataFrame:
    """Model-level AUROC of every backdoor detector's per-model scores, recomputed over the selected models
    whose ground truth (clean or backdoored) is known. Which metrics are scores, and which way they point, is
    what each detector declares (``attacks``); other metrics get their means and no AUROC."""
    values = agg[(agg.origin == MEASURED) & agg.attack_family.eq("backdoor")]
    values = values.merge(covariates[["model_id", "backdoored"]], on="model_id")
    values = values[values.backdoored.notna() & values.value.notna()]
    rows = []
    for (attack, variant, metric), part in values.groupby(["attack", "variant", "metric"], sort=True):
        info = attacks.info(attack)
        truth = part.backdoored.astype(bool).to_numpy()
        score = part.value.to_numpy(float)
        n_bd, n_clean = int(truth.sum()), int((~truth).sum())
        not_a_score = info.why_not_a_score(metric)
        note = not_a_score or (None if n_bd and n_clean else "needs clean and backdoored models")
        auroc = model_level_auroc(score, truth, higher_is_positive=info.higher_is_positive) \
            if not_a_score is None else np.nan
        if not info.declared:
            note = "; ".join(filter(None, [note, "not declared in the store: taken as a score, higher backdoored"
                                           if not_a_score is None else None]))
        rows.append({"attack": attack, "variant": variant, "metric": metric, "n_clean": n_clean,
                     "n_backdoored": n_bd, "mean_clean": float(score[~truth].mean()) if n_clean else np.nan,
                     "mean_backdoored": float(score[truth].mean()) if n_bd else np.nan, "model_auroc": auroc,
                     "note": note or None})
    return pd.DataFrame(rows, columns=["attack", "variant", "metric", "n_clean", "n_backdoored", "mean_clean",
                                       "mean_backdoored", "model_auroc", "note"])


def backdoor_detection_in(store: Any, model_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """``backdoor_detection`` over the store's models (``model_ids``: any subset), as the report computes it."""
    data = load_analysis_data(store, model_ids)
    agg = aggregate(data.results)
    return backdoor_detection(agg, covariates(data, agg), data.attacks)


def model_level_auroc(scores: Sequence[float] | np.ndarray, backdoored: Sequence[bool] | np.ndarray, *,
                      higher_is_positive: bool = True) -> float:
    """AUROC of per-model scores against ground truth (sklearn ``roc_auc_score``: ties count one half); NaN
    without both clean and backdoored models. ``higher_is_positive`` False: a lower score means backdoored."""
    score = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(backdoored, dtype=bool)
    if truth.all() or not truth.any():
        return np.nan
    return float(roc_auc_score(truth, score if higher_is_positive else -score))


def catalog_counts(covariates: pd.DataFrame) -> pd.DataFrame:
    """Models per dataset, family, year and venue (unknown counted as "(unknown)")."""
    rows = []
    for column in ("dataset", "family", "year", "venue", "purpose"):
        counts = covariates[column].astype("string").fillna("(unknown)").value_counts()
        for value, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append({"field": column, "value": value, "models": int(count)})
    return pd.DataFrame(rows, columns=["field", "value", "models"])
