"""Figures in the paper's spirit, drawn with matplotlib's object API on the Agg backend (no display).

Each figure function takes the per-model frames and returns a `Drawn` (a figure, or None with the reason
it was not drawn: a report says why a figure is absent instead of showing an empty one). Measured results
are filled markers, published ones hollow, so the two are never confused.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: reports are written on machines without a display

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from securitynet.analysis.declarations import AttackDeclarations  # noqa: E402
from securitynet.analysis.frames import MEASURED  # noqa: E402
from securitynet.analysis.per_model import series_label  # noqa: E402
from securitynet.analysis.stats import correlate  # noqa: E402

matplotlib.rcParams["svg.hashsalt"] = "securitynet"  # stable ids: the same figure gives the same SVG
MAX_PANELS = 12
MAX_ROC_CURVES = 25
COLORS = matplotlib.colormaps["tab10"].colors


@dataclass
class Drawn:
    figure: Figure | None
    note: str | None = None  # why it was not drawn, or a caveat about what is shown


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    caption: str
    draw: Callable[..., Drawn]


def _grid(n: int, *, width: float = 4.2, height: float = 3.4, max_cols: int = 3) -> tuple[Figure, list]:
    cols = min(max_cols, max(1, n))
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(max(width * cols, 7.0), height * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _figure_legend(fig: Figure, axes: list, *, ncols: int = 2) -> None:
    """One legend for the whole figure, below the panels: per-panel legends would cover the points."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=ncols, fontsize=7,
                   frameon=False)


def _marker_style(origin: str, color: tuple) -> dict:
    if origin == MEASURED:
        return {"color": color, "edgecolors": "black", "linewidths": 0.4}
    return {"facecolors": "none", "edgecolors": color, "linewidths": 1.0}


def _series(frame: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    """(attack, variant, origin) groups, measured first."""
    groups = list(frame.groupby(["attack", "variant", "origin"], sort=True))
    return sorted(groups, key=lambda g: (g[0][2] != MEASURED, g[0][0], g[0][1], g[0][2]))


def _origin_suffix(origin: str) -> str:
    return "" if origin == MEASURED else " (published)"


def _with_coverage(agg: pd.DataFrame, cov: pd.DataFrame, family: str, metric: str, column: str) -> pd.DataFrame:
    """One family's values of ``metric`` with each model's dataset and coverage ``column``; rows missing either
    value are left out."""
    frame = agg[agg.attack_family.eq(family) & (agg.metric == metric)]
    return frame.merge(cov[["model_id", "dataset", column]], on="model_id").dropna(subset=["value", column])


def stealing_vs_test_accuracy(agg: pd.DataFrame, cov: pd.DataFrame) -> Drawn:
    frame = _with_coverage(agg, cov, "stealing", "accuracy", "test_accuracy")
    if frame.empty:
        return Drawn(None, "no stealing accuracy stored for models with a known test accuracy")
    datasets = sorted(frame.dataset.dropna().unique())
    note = None
    if len(datasets) > MAX_PANELS:
        counts = frame.dataset.value_counts()
        datasets = sorted(counts.index[:MAX_PANELS])
        note = f"the {MAX_PANELS} datasets with the most results are shown; the CSV tables hold all"
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        part = frame[frame.dataset == dataset]
        for i, ((attack, variant, origin), group) in enumerate(_series(part)):
            ax.scatter(group.test_accuracy, group.value, s=22, label=series_label(attack, variant)
                       + _origin_suffix(origin), **_marker_style(origin, COLORS[i % len(COLORS)]))
        low = float(min(part.test_accuracy.min(), part.value.min(), 1.0))
        ax.plot([low, 1], [low, 1], color="grey", lw=0.8, ls="--", label="surrogate = target")
        ax.set_title(dataset)
        ax.set_xlabel("target test accuracy")
        ax.set_ylabel("stealing accuracy")
    _figure_legend(fig, axes, ncols=1)
    fig.suptitle("Model stealing: surrogate accuracy against the target's test accuracy")
    return Drawn(fig, note)


def membership_auc_vs_overfit_gap(agg: pd.DataFrame, cov: pd.DataFrame) -> Drawn:
    frame = _with_coverage(agg, cov, "membership", "auc", "overfit_gap")
    if frame.empty:
        return Drawn(None, "no membership AUC stored for models with a known overfit gap")
    series = _series(frame)[:MAX_PANELS]
    fig, axes = _grid(len(series))
    datasets = sorted(frame.dataset.fillna("(unknown)").unique())
    palette = matplotlib.colormaps["tab20"].colors
    color_of = {d: palette[i % len(palette)] for i, d in enumerate(datasets)}
    for ax, ((attack, variant, origin), group) in zip(axes, series, strict=True):
        for dataset, part in group.groupby(group.dataset.fillna("(unknown)"), sort=True):
            ax.scatter(part.overfit_gap, part.value, s=20, label=dataset,
                       **_marker_style(origin, color_of[dataset]))
        result = correlate(group.overfit_gap.to_numpy(float), group.value.to_numpy(float), n_boot=200)
        rho = "n/a" if np.isnan(result.spearman_rho) else f"{result.spearman_rho:.2f}"
        ax.set_title(f"{series_label(attack, variant)}{_origin_suffix(origin)}\nSpearman ρ = {rho} (n = {result.n})",
                     fontsize=9)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("overfit gap (train − test accuracy)")
        ax.set_ylabel("membership AUC")
    _figure_legend(fig, axes, ncols=min(6, max(1, len(datasets))))
    fig.suptitle("Membership inference AUC against the overfit gap")
    return Drawn(fig)


def attacks_per_dataset(agg: pd.DataFrame, cov: pd.DataFrame, attacks: AttackDeclarations) -> Drawn:
    frame = agg[agg.attack_family.isin(("membership", "stealing", "backdoor"))]
    frame = frame.merge(cov[["model_id", "dataset"]], on="model_id").dropna(subset=["value"])
    if frame.empty:
        return Drawn(None, "no attack results stored")
    panels = []
    for kind in ("membership", "stealing", "backdoor"):
        part = frame[frame.attack_family == kind]
        if part.empty:
            continue
        chosen = []
        for (attack, _origin), group in part.groupby(["attack", "origin"], sort=True):
            metric = attacks.info(attack).headline_metric(group.metric)
            if metric:
                chosen.append(group[group.metric == metric])
        if chosen:
            panels.append((kind, pd.concat(chosen)))
    if not panels:
        return Drawn(None, "no attack has a headline metric (auc, auroc, agreement, accuracy) stored")
    fig, axes = _grid(len(panels), width=9.0, height=4.6, max_cols=1)
    for ax, (kind, part) in zip(axes, panels, strict=True):
        datasets = sorted(part.dataset.fillna("(unknown)").unique())[:20]
        series = _series(part)
        width = 0.8 / max(1, len(series))
        handles = []
        for i, ((attack, variant, origin), group) in enumerate(series):
            data = [group.value[group.dataset.fillna("(unknown)") == d].to_numpy(float) for d in datasets]
            positions = [j - 0.4 + width * (i + 0.5) for j in range(len(datasets))]
            keep = [k for k, values in enumerate(data) if len(values)]
            color = COLORS[i % len(COLORS)]
            box = ax.boxplot([data[k] for k in keep], positions=[positions[k] for k in keep], widths=width * 0.9,
                             patch_artist=True, manage_ticks=False, showfliers=True)
            for patch in box["boxes"]:
                patch.set_facecolor(color if origin == MEASURED else "white")
                patch.set_edgecolor(color if origin != MEASURED else "black")
            metric = group.metric.iloc[0]
            handles.append((box["boxes"][0] if box["boxes"] else None,
                            f"{series_label(attack, variant)} {metric}{_origin_suffix(origin)}"))
        ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{kind} attacks per dataset")
        ax.set_ylabel("headline metric")
        shown = [(h, label) for h, label in handles if h is not None]
        if shown:
            ax.legend([h for h, _ in shown], [label for _, label in shown], fontsize=6, loc="upper center",
                      bbox_to_anchor=(0.5, -0.3), ncols=2, frameon=False)
    fig.suptitle("Attacks compared per dataset (box: models; filled = measured, hollow = published)")
    return Drawn(fig)


def roc_curves_loglog(roc: pd.DataFrame, agg: pd.DataFrame) -> Drawn:
    usable = roc[roc.problem.isna()] if not roc.empty else roc
    if usable.empty:
        reasons = sorted(set(roc.problem.dropna())) if not roc.empty else []
        why = "no ROC curve artifacts stored" + (f" ({'; '.join(reasons[:3])})" if reasons else "")
        return Drawn(None, why)
    groups = list(usable.groupby(["attack", "variant"], sort=True))[:MAX_PANELS]
    fig, axes = _grid(len(groups))
    auc = agg[agg.metric == "auc"].groupby(["model_id", "attack", "params_hash"]).value.mean()
    note = None
    color_index: dict[str, int] = {}  # one colour per model in every panel
    # One range for every panel, down to the smallest FPR the member/non-member set sizes allow.
    positive = [float(np.min(f[f > 0])) for f in map(np.asarray, usable.fpr) if np.any(np.asarray(f) > 0)]
    floor = max(min(positive, default=1e-3) / 2, 1e-6)
    for ax, ((attack, variant), group) in zip(axes, groups, strict=True):
        curves = group.drop_duplicates(["model_id", "params_hash"])  # one seed per model keeps it legible
        if len(curves) > MAX_ROC_CURVES:
            note = f"at most {MAX_ROC_CURVES} models per panel (highest AUC first)"
            ranked = curves.assign(auc=[auc.get((m, attack, h), np.nan) for m, h in
                                        zip(curves.model_id, curves.params_hash, strict=True)])
            curves = ranked.sort_values(["auc", "model_id"], ascending=[False, True]).head(MAX_ROC_CURVES)
        for row in curves.itertuples(index=False):
            i = color_index.setdefault(row.model_id, len(color_index))
            fpr, tpr = np.asarray(row.fpr, float), np.asarray(row.tpr, float)
            keep = (fpr > 0) & (tpr > 0)
            if not keep.any():
                continue
            ax.plot(fpr[keep], tpr[keep], lw=1.0, color=matplotlib.colormaps["tab20"].colors[i % 20],
                    label=row.model_id.split("/", 1)[-1][:32])
        ax.plot([floor, 1], [floor, 1], color="grey", lw=0.8, ls="--", label="chance")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor, 1)
        ax.set_ylim(floor, 1.05)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(series_label(attack, variant), fontsize=9)
    _figure_legend(fig, axes, ncols=4)
    fig.suptitle("Membership ROC curves, log-log (the low-FPR regime)")
    return Drawn(fig, note)


# For a detector the store does not declare: per-model outputs worth a distribution, guessed from their names
# (a suspected target label or a 0/1 flag is not one). A declared detector names its score metrics.
_SCORE_METRIC = re.compile(r"score|anomaly|index|entropy|norm|probability")
_NOT_A_SCORE = re.compile(r"label|flag|auroc|auc|rate")


def _worth_a_distribution(attacks: AttackDeclarations, attack: str, metric: str, *, strict: bool) -> bool:
    info = attacks.info(attack)
    if info.declared:
        return metric in info.score_metrics
    return not _NOT_A_SCORE.search(metric) and (not strict or bool(_SCORE_METRIC.search(metric)))


def backdoor_score_distributions(agg: pd.DataFrame, cov: pd.DataFrame, attacks: AttackDeclarations) -> Drawn:
    frame = agg[(agg.origin == MEASURED) & agg.attack_family.eq("backdoor")]
    frame = frame.merge(cov[["model_id", "backdoored"]], on="model_id").dropna(subset=["value"])
    frame = frame[frame.backdoored.notna()]
    panels = []
    for (attack, variant, metric), part in frame.groupby(["attack", "variant", "metric"], sort=True):
        truth = part.backdoored.astype(bool)
        if truth.any() and (~truth).any():
            panels.append(((attack, variant, metric), part))
    scores = [p for p in panels if _worth_a_distribution(attacks, p[0][0], p[0][2], strict=True)]
    panels = scores or [p for p in panels if _worth_a_distribution(attacks, p[0][0], p[0][2], strict=False)]
    if not panels:
        return Drawn(None, "no backdoor detector scores stored for both clean and backdoored models")
    panels = panels[:MAX_PANELS]
    fig, axes = _grid(len(panels))
    for ax, ((attack, variant, metric), part) in zip(axes, panels, strict=True):
        truth = part.backdoored.astype(bool)
        clean, bad = part.value[~truth].to_numpy(float), part.value[truth].to_numpy(float)
        bins = np.histogram_bin_edges(np.concatenate([clean, bad]), bins=15)
        ax.hist(clean, bins=bins, alpha=0.6, color=COLORS[0], label=f"clean (n = {len(clean)})")
        ax.hist(bad, bins=bins, alpha=0.6, color=COLORS[3], label=f"backdoored (n = {len(bad)})")
        ax.set_title(f"{series_label(attack, variant)}: {metric}", fontsize=9)
        ax.set_xlabel(metric)
        ax.set_ylabel("models")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.suptitle("Backdoor detection scores: clean against backdoored models")
    return Drawn(fig)


def catalog_statistics(cov: pd.DataFrame) -> Drawn:
    if cov.empty:
        return Drawn(None, "no models selected")
    fields = [("dataset", "models per dataset"), ("family", "models per family"), ("year", "models per year"),
              ("venue", "models per venue")]
    fig, axes = _grid(4, width=6.0, height=3.6, max_cols=2)
    for ax, (column, title) in zip(axes, fields, strict=True):
        values = cov[column].astype("string").fillna("(unknown)")
        counts = values.value_counts()
        if column == "year":
            counts = counts.sort_index()
        else:
            counts = counts.sort_values(ascending=False, kind="stable")
            if len(counts) > 20:
                counts = pd.concat([counts.iloc[:19], pd.Series({"(other)": counts.iloc[19:].sum()})])
        ax.bar(range(len(counts)), counts.to_numpy(), color=COLORS[0])
        ax.set_xticks(range(len(counts)), [str(i) for i in counts.index], rotation=60, ha="right", fontsize=6)
        ax.set_title(f"{title} ({len(cov)} models)")
        ax.set_ylabel("models")
    fig.suptitle("Catalog")
    return Drawn(fig)


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("membership_auc_vs_overfit_gap", "Membership AUC against the overfit gap",
               "One panel per membership attack; the title gives Spearman's ρ over the models shown. "
               "Overfit gap: measured annotation where there is one, published otherwise.",
               lambda d: membership_auc_vs_overfit_gap(d.agg, d.cov)),
    FigureSpec("stealing_vs_test_accuracy", "Stealing accuracy against target test accuracy",
               "One panel per dataset, one series per stealing configuration; dashed: surrogate as good as target.",
               lambda d: stealing_vs_test_accuracy(d.agg, d.cov)),
    FigureSpec("attacks_per_dataset", "Attacks compared per dataset",
               "Distribution over models of each attack's headline metric (AUC for membership, agreement or "
               "accuracy for stealing, AUROC or score for backdoor detection).",
               lambda d: attacks_per_dataset(d.agg, d.cov, d.data.attacks)),
    FigureSpec("membership_roc_loglog", "Membership ROC curves (log-log)",
               "From the stored ROC artifacts (sha256 checked); log axes show the low false-positive regime.",
               lambda d: roc_curves_loglog(d.roc, d.agg)),
    FigureSpec("backdoor_scores", "Backdoor detection scores, clean against backdoored",
               "Per detector and per-model score, models split by their known ground truth.",
               lambda d: backdoor_score_distributions(d.agg, d.cov, d.data.attacks)),
    FigureSpec("catalog", "Catalog statistics", "Selected models per dataset, family, year and venue.",
               lambda d: catalog_statistics(d.cov)),
)


def to_bytes(figure: Figure, fmt: str) -> bytes:
    """PNG or SVG bytes without creation dates, so the same results give the same files."""
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    figure.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
    return buffer.getvalue()


def png_and_svg(figure: Figure) -> tuple[bytes, bytes]:
    """Both files of one figure; the layout is solved once (for the PNG) and kept for the SVG."""
    png = to_bytes(figure, "png")
    figure.set_layout_engine("none")  # positions stay as the PNG's layout left them
    return png, to_bytes(figure, "svg")
