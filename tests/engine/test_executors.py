"""Executors give the same stored results as the in-process one, for the same seeds."""

from __future__ import annotations

import pandas as pd
import pytest
from same_results import assert_same_results, sorted_results

from securitynet.engine.executors import ProcessExecutor, make_executor
from securitynet.engine.plan import build_plan
from securitynet.engine.run import execute_plan
from securitynet.errors import SecurityNetError
from securitynet.store import Store

ATTACKS = "mia.correctness,test.probe"
PARAMS = {"mia.correctness": {"n": 150}}


def _run(tmp_path, name: str, cards, executor) -> pd.DataFrame:
    store = Store(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
    plan = build_plan(cards, ATTACKS, seeds=2, params=PARAMS, store=store)
    summary = execute_plan(plan, store, executor=executor, progress=False)
    assert summary.failed == [] and len(summary.records) == len(cards) * 2 * 2
    assert set(store.jobs_frame().status) == {"done"}
    return sorted_results(store, plan)


@pytest.mark.slow
def test_process_pool_matches_in_process(tmp_path, tiny_cards, engine_env) -> None:
    local = _run(tmp_path, "local", tiny_cards, "local")
    pooled = _run(tmp_path, "pool", tiny_cards, ProcessExecutor(workers=2))
    assert_same_results(local, pooled)
    assert set(pooled.run_id) != set(local.run_id)
    environments = {d["environment"]["executor"] for d in pooled.data_json}
    assert environments == {"process"}


@pytest.mark.slow
def test_ray_matches_in_process(tmp_path, tiny_cards, engine_env) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed (pip install 'securitynet[ray]')")
    local = _run(tmp_path, "local", tiny_cards, "local")
    on_ray = _run(tmp_path, "ray", tiny_cards, make_executor("ray", workers=2))
    assert_same_results(local, on_ray)
    hosts = {d["environment"]["executor"] for d in on_ray.data_json}
    assert hosts == {"ray"}


def test_unknown_executor_is_refused() -> None:
    with pytest.raises(SecurityNetError, match="unknown executor 'dask'"):
        make_executor("dask")
