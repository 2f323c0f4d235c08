"""RayExecutor without a cluster: what it resubmits when Ray loses a worker, and what workers get of the driver's
environment. A stand-in for `ray` (wait, get, exceptions) and for the task make the losses exact and fast; the
real cluster is exercised in test_ray_cluster.py."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from securitynet.engine.executors import RayExecutor, worker_env
from securitynet.engine.plan import build_plan
from securitynet.engine.worker import JobFinished, ModelStarted, RunSettings
from securitynet.store.database import JobRecord

SETTINGS = RunSettings(run_id="run-test", software_version="test")


class LostNode(Exception):
    """Stands for Ray's errors for a task whose worker or node went away (NodeDiedError, WorkerCrashedError...)."""


FAKE_RAY = SimpleNamespace(
    exceptions=SimpleNamespace(WorkerCrashedError=LostNode, NodeDiedError=LostNode, LocalRayletDiedError=LostNode,
                               OutOfMemoryError=LostNode, ObjectLostError=LostNode),
    wait=lambda refs, num_returns: (refs[:num_returns], refs[num_returns:]),
    get=lambda event: event,  # the stand-in streams yield events themselves, not object refs
)


class FlakyTask:
    """Stands for the Ray task: reports a group's jobs, but its first ``losses`` runs of each model end with
    ``error`` after ``lose_after`` jobs. Records what each run was asked to do."""

    def __init__(self, *, losses: int, lose_after: int, error: type[Exception] = LostNode) -> None:
        self.losses, self.lose_after, self.error = losses, lose_after, error
        self.calls: list[tuple[str, list[str]]] = []

    def remote(self, group, settings):
        self.calls.append((group.card.id, [job.key for job in group.jobs]))
        lose = sum(model == group.card.id for model, _ in self.calls) <= self.losses
        return self._events(group, lose)

    def _events(self, group, lose: bool):
        yield ModelStarted(group.card.id, len(group.jobs), "stand-in")
        for n, job in enumerate(group.jobs):
            if lose and n == self.lose_after:
                raise self.error(f"the node running {group.card.id} is gone")
            yield JobFinished(JobRecord(model_id=job.model_id, weight_hash=job.weight_hash, attack=job.attack,
                                        attack_version=job.attack_version, params=job.params, seed=job.seed))
        if lose and self.lose_after == len(group.jobs):  # lost after its last report, before the task ended
            raise self.error(f"the node running {group.card.id} is gone")


@pytest.fixture
def groups(engine_env):
    """Three models (untrained: nothing here runs them) with two jobs each."""
    from securitynet_test_models import make_tiny_card

    return build_plan([make_tiny_card(engine_env["mirror"], i) for i in range(3)], "test.probe", seeds=2).groups


def _records(groups, task: FlakyTask) -> list[JobRecord]:
    events = RayExecutor(max_attempts=3)._stream(FAKE_RAY, task, groups, SETTINGS)
    return [event.record for event in events if isinstance(event, JobFinished)]


def test_lost_worker_jobs_are_resubmitted_without_the_reported_ones(groups, caplog) -> None:
    task = FlakyTask(losses=1, lose_after=1)
    with caplog.at_level(logging.WARNING, logger="securitynet.engine.executors"):
        records = _records(groups, task)
    keys = [job.key for group in groups for job in group.jobs]
    assert sorted(r.key for r in records) == sorted(keys)  # every job once: the reported one was not rerun
    assert {r.status for r in records} == {"done"}
    for group in groups:
        first, retry = [jobs for model, jobs in task.calls if model == group.card.id]
        assert first == [job.key for job in group.jobs] and retry == first[1:]
    assert caplog.text.count("resubmitted its 1 unreported job(s), attempt 2 of 3") == len(groups)


def test_a_worker_lost_after_its_last_report_is_not_resubmitted(groups) -> None:
    task = FlakyTask(losses=1, lose_after=2)
    records = _records(groups, task)
    assert len(task.calls) == len(groups)
    assert sorted(r.key for r in records) == sorted(job.key for group in groups for job in group.jobs)
    assert {r.status for r in records} == {"done"}


def test_a_model_whose_worker_is_always_lost_fails_after_max_attempts(groups) -> None:
    task = FlakyTask(losses=99, lose_after=0)
    records = _records(groups, task)
    assert len(task.calls) == 3 * len(groups)
    assert len(records) == sum(len(g.jobs) for g in groups) and {r.status for r in records} == {"failed"}
    assert all(r.error.startswith("Ray lost the worker of this model 3 times, last: LostNode: the node running")
               for r in records)


def test_an_error_of_the_task_itself_is_not_retried(groups) -> None:
    task = FlakyTask(losses=1, lose_after=1, error=ModuleNotFoundError)
    records = _records(groups, task)
    assert len(task.calls) == len(groups)
    failed = [r for r in records if r.status == "failed"]
    assert len(failed) == len(groups)
    assert all(r.error.startswith("Ray task failed: ModuleNotFoundError: the node running") for r in failed)


def test_workers_get_paths_and_plugins_but_never_the_store() -> None:
    driver = {"SECURITYNET_DB": "postgresql://db.example/securitynet", "SECURITYNET_TEST_POSTGRES_URL": "postgresql://x",
              "SECURITYNET_MIRROR": "/weights", "SECURITYNET_ATTACK_MODULES": "my_attacks", "PYTHONPATH": "/plugins",
              "HOME": "/root", "PGPASSWORD": "secret"}
    assert worker_env(driver) == {"SECURITYNET_MIRROR": "/weights", "SECURITYNET_ATTACK_MODULES": "my_attacks",
                                  "PYTHONPATH": "/plugins"}
