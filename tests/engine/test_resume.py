"""A `securitynet evaluate` killed with SIGKILL halfway and started again ends with every job exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from securitynet.engine.plan import build_plan
from securitynet.store import Store, schema

CLI = str(Path(sys.executable).with_name("securitynet"))


def _command(db_url: str, *extra: str) -> list[str]:
    return [CLI, "--db", db_url, "evaluate", *extra, "--models", "test/tiny_*",
            "--attacks", "test.probe,mia.correctness", "--seeds", "2",
            "--param", "test.probe.delay_s=1.0", "--param", "mia.correctness.n=100", "--no-progress"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the worker processes")
def test_sigkill_then_rerun_finishes_every_job_once(tmp_path, tiny_cards, engine_env) -> None:
    db_url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    store = Store(db_url)
    store.upsert_cards(tiny_cards)
    plan = build_plan(tiny_cards, "test.probe,mia.correctness", seeds=2,
                      params=["test.probe.delay_s=1.0", "mia.correctness.n=100"])
    expected = set(plan.keys)
    assert len(expected) == 12

    # The killed run uses the process pool: its workers must die with it, not run on unrecorded.
    first = subprocess.Popen(_command(db_url, "--executor", "process", "--workers", "2"), env=os.environ.copy(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not store.finished_keys() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, f"the run ended before it could be killed: {first.stdout.read().decode()[-2000:]}"
    workers = _children(first.pid)
    assert workers, "the process pool has no worker processes"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    deadline = time.monotonic() + 3  # well before they would have run out of work (1 s per probe job)
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "worker processes outlived the killed driver"
    done_before = store.finished_keys()
    assert 1 <= len(done_before) < len(expected)
    _assert_no_partial_rows(store)

    second = subprocess.run(_command(db_url), env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"{len(expected) - len(done_before)} to run, {len(done_before)} already in the store" in second.stdout

    jobs = store.jobs_frame()
    assert sorted(jobs.job_key) == sorted(expected)  # every key, each exactly once
    assert set(jobs.status) == {"done"}
    _assert_no_partial_rows(store)
    runs = jobs.groupby("run_id").job_key.apply(set)
    assert len(runs) == 2 and done_before in list(runs)  # jobs of the killed run were kept, not rerun
    with store.engine.connect() as conn:
        statuses = sorted(conn.execute(sa.select(schema.runs.c.status)).scalars())
    assert statuses == ["finished", "interrupted"]  # the second run closed the killed one's row
    with store.engine.connect() as conn:
        per_job = conn.execute(
            sa.select(schema.jobs.c.attack, sa.func.count(schema.results.c.id))
            .select_from(schema.jobs.join(schema.results)).group_by(schema.jobs.c.id)
        ).all()
    counts = {(attack, count) for attack, count in per_job}  # one complete set of metrics per job
    assert len(per_job) == 12 and {a for a, _ in counts} == {"test.probe", "mia.correctness"} and len(counts) == 2
    assert ("test.probe", 6) in counts


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, only not yet reaped


def _assert_no_partial_rows(store: Store) -> None:
    """Every result belongs to a finished job, and every finished job has all its results."""
    with store.engine.connect() as conn:
        stray = conn.execute(
            sa.select(sa.func.count()).select_from(schema.results.outerjoin(schema.jobs))
            .where(sa.or_(schema.jobs.c.id.is_(None), schema.jobs.c.status != "done"))
        ).scalar()
        empty = conn.execute(
            sa.select(sa.func.count()).select_from(schema.jobs)
            .where(~sa.exists().where(schema.results.c.job_id == schema.jobs.c.id))
        ).scalar()
    assert stray == 0 and empty == 0
