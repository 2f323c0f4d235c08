"""What a run found, in a few lines a person reads: the last thing `make run` prints.

Computed from the store with the same frames and statistics as the report (``aggregate``, ``covariates``,
``membership_vs_overfit_gap``), over measured values only:

- the most and the least membership-vulnerable model: each model's highest AUC over the membership attacks
  run on it, with that attack and the model's overfit gap;
- the best stealing agreement with the target, in distribution and out of distribution;
- the backdoor detectors' verdicts on the public models: each backdoored one flagged or not, with the
  target the detectors name beside the true one, and any clean model flagged (a false alarm);
- Spearman's rho of membership AUC against the overfit gap (the attack measured on the most models);
- the report's path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from securitynet.analysis.frames import MEASURED, load_analysis_data
from securitynet.analysis.per_model import aggregate, covariates, series_label
from securitynet.analysis.stats import N_BOOTSTRAP, membership_vs_overfit_gap

BACKDOOR_PREFIX = "backdoor."  # dropped from detector names where the line already says "backdoor"


def _points(gap: float) -> str:
    return "gap unknown" if pd.isna(gap) else f"overfit gap {100 * gap:.1f} pts"


def membership_lines(agg: pd.DataFrame, cov: pd.DataFrame) -> list[str]:
    """The models with the highest and the lowest best-attack membership AUC."""
    auc = agg[(agg.metric == "auc") & agg.attack_family.eq("membership") & agg.value.notna()]
    if auc.empty:
        return ["membership: no AUC measured"]
    best = auc.sort_values(["model_id", "value"], ascending=[True, False], kind="stable").drop_duplicates("model_id")
    best = best.merge(cov[["model_id", "overfit_gap"]], on="model_id", how="left")
    ranked = best.sort_values(["value", "model_id"], ascending=[False, True], kind="stable")

    def describe(row: Any) -> str:
        return (f"{row.model_id}: AUC {row.value:.3f} ({series_label(row.attack, row.variant)}), "
                f"{_points(row.overfit_gap)}")

    top, bottom = ranked.iloc[0], ranked.iloc[-1]
    lines = [f"membership, most vulnerable of {len(ranked)} models: {describe(top)}"]
    if len(ranked) > 1:
        lines.append(f"membership, least vulnerable: {describe(bottom)}")
    return lines


def _query_set(params: str) -> str:
    return json.loads(params).get("query_set") or "in-distribution"


def stealing_lines(agg: pd.DataFrame) -> list[str]:
    """The highest agreement of a surrogate with its target, per query set."""
    agreement = agg[agg.attack_family.eq("stealing") & (agg.metric == "agreement") & agg.value.notna()]
    if agreement.empty:
        return ["stealing: no agreement measured"]
    agreement = agreement.assign(query_set=agreement.params.map(_query_set))
    parts = []
    for query_set, part in sorted(agreement.groupby("query_set"), key=lambda kv: kv[0] != "in-distribution"):
        row = part.sort_values(["value", "model_id"], ascending=[False, True], kind="stable").iloc[0]
        parts.append(f"{query_set} {row.value:.3f} ({row.model_id})")
    return ["stealing, best agreement: " + "; ".join(parts)]


def _verdicts(agg: pd.DataFrame, model_id: str) -> list[tuple[str, bool, float | None]]:
    """(detector, flagged, suspected target) for each detector that gave a verdict on the model."""
    part = agg[(agg.model_id == model_id) & agg.attack_family.eq("backdoor")]
    out = []
    for (attack, variant), rows in part.groupby(["attack", "variant"], sort=True):
        values = rows.set_index("metric").value
        flagged = values.get("flagged")
        if flagged is None or pd.isna(flagged):
            continue  # no model-level verdict (STRIP screens inputs)
        target = values.get("suspected_target")
        name = series_label(attack.removeprefix(BACKDOOR_PREFIX), variant)
        out.append((name, bool(flagged >= 0.5), None if target is None or pd.isna(target) else float(target)))
    return out


def _with_target(name: str, target: float | None) -> str:
    return name if target is None else f"{name} (target {target:g})"


def backdoor_lines(agg: pd.DataFrame, cov: pd.DataFrame, models: pd.DataFrame, public_ids: Iterable[str]) -> list[str]:
    """Verdicts on the public models: each backdoored model flagged or not, and the clean ones' false alarms."""
    truth = cov.set_index("model_id").backdoored
    targets = models.set_index("id").backdoor_target
    lines, clean, alarms, alarmed = [], [], [], set()
    for model_id in public_ids:
        verdicts = _verdicts(agg, model_id)
        if not verdicts:
            continue
        flagged = [_with_target(name, target) for name, hit, target in verdicts if hit]
        backdoored = truth.get(model_id)
        if backdoored is None or pd.isna(backdoored):
            continue  # ground truth unknown: neither a detection nor a false alarm
        if bool(backdoored):
            target = targets.get(model_id)
            known = "target unknown" if target is None or pd.isna(target) else f"target {int(target)}"
            missed = [name for name, hit, _ in verdicts if not hit]
            verdict = f"FLAGGED by {', '.join(flagged)}" if flagged else "not flagged"
            lines.append(f"backdoor, {model_id} (backdoored, {known}): {verdict}"
                         + (f"; not by {', '.join(missed)}" if flagged and missed else "")
                         + ("" if flagged else f" by {', '.join(name for name, _, _ in verdicts)}"))
        else:
            clean.append(model_id)
            alarms += [f"{model_id} by {name}" for name in flagged]
            if flagged:
                alarmed.add(model_id)
    if clean:
        quiet = len(clean) - len(alarmed)
        lines.append(f"backdoor, {len(clean)} clean public models: " +
                     (f"{quiet} not flagged; false alarm: {'; '.join(alarms)}" if alarms else "none flagged"))
    return lines or ["backdoor: no detector verdict on the public models"]


def spearman_line(table: pd.DataFrame) -> str:
    """Spearman's rho of AUC against overfit gap for the measured attack with the most models."""
    measured = table[(table.origin == MEASURED) & table.spearman_rho.notna()]
    if measured.empty:
        return "membership AUC vs overfit gap: too few models with both values for a correlation"
    chosen = measured.sort_values(["n", "attack", "variant"], ascending=[False, True, True], kind="stable").iloc[0]
    interval = "" if pd.isna(chosen.spearman_ci_low) else \
        f", 95% CI [{chosen.spearman_ci_low:.2f}, {chosen.spearman_ci_high:.2f}]"
    others = ""
    if len(measured) > 1:
        others = (f"; {measured.spearman_rho.min():.2f} to {measured.spearman_rho.max():.2f} "
                  f"over {len(measured)} attack variants")
    return (f"membership AUC vs overfit gap: Spearman rho {chosen.spearman_rho:.2f} "
            f"({series_label(chosen.attack, chosen.variant)}, n = {chosen.n}{interval}){others}")


def quickstart_findings(store: Any, model_ids: Iterable[str], public_ids: Iterable[str],
                        report: Path | None = None, *, n_boot: int = N_BOOTSTRAP) -> list[str]:
    """The findings over ``model_ids`` (backdoor verdicts over ``public_ids``), the report's path last."""
    data = load_analysis_data(store, list(model_ids))
    agg = aggregate(data.measured)
    cov = covariates(data, agg)
    lines = [
        *membership_lines(agg, cov),
        *stealing_lines(agg),
        *backdoor_lines(agg, cov, data.models, public_ids),
        spearman_line(membership_vs_overfit_gap(agg, cov, n_boot=n_boot)),
    ]
    if report is not None:
        lines.append(f"report: {report}")
    return lines
