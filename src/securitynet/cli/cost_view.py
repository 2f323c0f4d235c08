"""`evaluate --dry-run --cost`: the estimated time of a run, per attack and in all, before it starts."""

from __future__ import annotations

import json
from typing import Any

from securitynet.cli.output import Column, StreamFormat, emit

COST_COLUMNS = [
    Column("attack", kind="id"), Column("jobs", kind="int"), Column("each"), Column("total"),
    Column("peak_rss_mib", "peak MiB", kind="int"),
]


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h': what a person plans around."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _or_none(seconds: float | None) -> str | None:
    return None if seconds is None else duration(seconds)


def print_cost(plan: Any, fmt: StreamFormat, say: Any, *, workers: int | None = None) -> None:
    from securitynet.engine.cost import estimate_plan

    estimate = estimate_plan(plan)
    # People read durations; JSON and CSV keep the seconds.
    rows = [{**row, "each": _or_none(row["seconds_each"]), "total": _or_none(row["seconds"])} for row in estimate.rows]
    if fmt in (StreamFormat.json, StreamFormat.jsonl):
        print(json.dumps({
            "total_seconds": estimate.total_seconds, "load_seconds": estimate.load_seconds,
            "speed_factor": estimate.speed_factor, "workers": workers,
            "wall_seconds": estimate.with_workers(workers or 1), "attacks": estimate.rows,
            "unsized_models": estimate.unsized_models, "unmeasured_attacks": estimate.unmeasured_attacks,
            "one_reference_attacks": estimate.one_reference_attacks,
            "basis": estimate.basis}, indent=2))
        return
    columns = COST_COLUMNS if fmt is StreamFormat.table else [
        Column("attack"), Column("jobs", kind="int"), Column("seconds_each", kind="number"),
        Column("seconds", kind="number"), Column("peak_rss_mib", kind="number")]
    emit(rows, columns, fmt.value, title="estimated cost of the pending jobs")
    if fmt is not StreamFormat.table:
        return
    say.print(f"model loading: {duration(estimate.load_seconds)} for {len(plan.groups)} models")
    total = f"estimated time: {duration(estimate.total_seconds)} on this machine"
    if workers and workers > 1:
        total += f", {duration(estimate.with_workers(workers))} on {workers} workers"
    say.print(total + " (an estimate: within a factor of 2 where it was checked)")
    say.print(f"this machine now runs at x{1 / estimate.speed_factor:.2f} the speed of the measured one; "
              f"{estimate.basis}")
    if estimate.unmeasured_attacks:
        say.print(f"not in the cost table (counted as 0): {', '.join(estimate.unmeasured_attacks)}")
    if estimate.one_reference_attacks:
        say.print(f"measured on one reference model only (not scaled by model size): "
                  f"{', '.join(estimate.one_reference_attacks)}")
    if estimate.unsized_models:
        say.print(f"{len(estimate.unsized_models)} models could not be sized: estimated as the larger reference")
