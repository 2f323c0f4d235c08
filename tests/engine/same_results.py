"""The check that two runs of the same plan (different executors, stores or clusters) stored the same results."""

from __future__ import annotations

import pandas as pd

from securitynet.engine.plan import Plan
from securitynet.engine.run import plan_results


def sorted_results(store, plan: Plan) -> pd.DataFrame:
    """The plan's stored results in a fixed row order, for comparing runs."""
    frame = plan_results(store, plan)
    return frame.sort_values(["model_id", "attack", "seed", "metric"]).reset_index(drop=True)


def assert_same_results(local: pd.DataFrame, other: pd.DataFrame) -> None:
    """Same keys and metrics; values equal up to the last bits of posteriors; seeded draws and data exactly."""
    columns = ["model_id", "attack", "attack_version", "params_hash", "seed", "weight_hash", "metric", "missing_reason"]
    pd.testing.assert_frame_equal(local[columns], other[columns])
    # Posteriors may differ in the last bits between thread counts; seeded draws must not differ at all.
    pd.testing.assert_series_equal(local.value, other.value, rtol=0, atol=1e-6)
    draws = local.metric.str.endswith("_draw")
    assert (local.value[draws] == other.value[draws]).all()
    indices = [d["data_used"] for d in local.data_json], [d["data_used"] for d in other.data_json]
    assert indices[0] == indices[1]
