"""The driver: runs a plan on an executor and writes each finished job to the store in its own transaction.

Resumable by construction: a job is either fully in the store (one transaction with its results
and artifacts) or not at all, and a rerun plans only keys not finished yet. A run killed at any
point and started again therefore ends with every job exactly once.
"""

from __future__ import annotations

import os
import platform
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console

from securitynet.attacks.base import Attack
from securitynet.catalog.card import ModelCard
from securitynet.engine.cache import DEFAULT_MEMORY_BYTES
from securitynet.engine.executors import Executor, make_executor
from securitynet.engine.plan import Plan, build_plan
from securitynet.engine.processes import mark_interrupted_runs
from securitynet.engine.progress import RunProgress
from securitynet.engine.selection import select_models
from securitynet.engine.worker import JobFinished, RunSettings, failed_record
from securitynet.errors import UnknownModelError
from securitynet.job_identity import JobRecord, job_key
from securitynet.version import __version__

if TYPE_CHECKING:
    import torch


def new_run_id() -> str:
    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunSummary:
    run_id: str
    status: str
    records: list[JobRecord] = field(default_factory=list)
    skipped: int = 0
    not_applicable: int = 0

    @property
    def done(self) -> list[JobRecord]:
        return [r for r in self.records if r.status == "done"]

    @property
    def failed(self) -> list[JobRecord]:
        return [r for r in self.records if r.status != "done"]


def _register_missing_cards(store: Any, cards: Sequence[ModelCard]) -> None:
    """Results join the models table; a built-in card not yet in the store is added (never replaced)."""
    missing = []
    for card in cards:
        try:
            store.get_card(card.id)
        except UnknownModelError:
            missing.append(card)
    if missing:
        store.upsert_cards(missing)


def execute_plan(
    plan: Plan,
    store: Any,
    *,
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    device: str | torch.device | None = None,
    gpus_per_job: float | None = None,
    progress: bool = True,
    console: Console | None = None,
    command: str | None = None,
    cache_root: str | None = None,
    posterior_cache: bool = True,
    artifacts_root: str | None = None,
    torch_threads: int | None = None,
    on_record: Callable[[JobRecord], None] | None = None,
) -> RunSummary:
    """Run the plan's pending jobs; each record is written as soon as it arrives.

    ``on_record`` is called with each record once it is stored (``evaluate --format jsonl`` prints it).

    ``device``: cpu, cuda or cuda:N (None: the GPU when there is one); ``gpus_per_job``: what each Ray task
    reserves (default 1 on a GPU). A device that cannot be used raises a DeviceError before any job starts.

    ``posterior_cache=False`` makes every attack compute its own posteriors (for benchmarks and for
    checking that the cache changes nothing).
    """
    runner = executor if isinstance(executor, Executor) else make_executor(executor, workers=workers, address=address)
    device = str(device) if device is not None else None  # RunSettings travel to workers as plain values
    run_id = new_run_id()
    settings = RunSettings(
        run_id=run_id, software_version=__version__, executor=runner.name, device=device,
        pretrained=plan.pretrained, cache_root=cache_root, disk_cache=posterior_cache,
        memory_cache_bytes=DEFAULT_MEMORY_BYTES if posterior_cache else 0, artifacts_root=artifacts_root,
        torch_threads=torch_threads, gpus_per_job=gpus_per_job,
    )
    runner.check_device(device, gpus_per_job)  # one clear error before anything is recorded, not one per job
    summary = RunSummary(run_id=run_id, status="running", skipped=len(plan.done),
                         not_applicable=len(plan.not_applicable))
    if not plan.groups:
        summary.status = "nothing to do"
        return summary
    _register_missing_cards(store, plan.cards)
    mark_interrupted_runs(store)
    store.start_run(
        run_id, command=command or " ".join(sys.argv), executor=runner.name, host=platform.node(),
        software_version=__version__, pid=os.getpid(),
    )
    # What analysis needs to know of each attack (family, headline metrics, scores), once per run.
    store.record_attacks([attack.declaration() for attack in plan.attacks], run_id=run_id)
    expected = {job.key: job for group in plan.groups for job in group.jobs}
    status = "failed"
    try:
        with RunProgress(plan.groups, enabled=progress, console=console) as bar:
            for event in runner.run(plan.groups, settings):
                if isinstance(event, JobFinished):
                    record = event.record
                    if record.key not in expected:
                        raise RuntimeError(f"executor returned a job that was not planned: {record.key}")
                    store.record_job(record)
                    expected.pop(record.key)
                    summary.records.append(record)
                    if on_record is not None:
                        on_record(record)
                bar.update(event)
            for job in expected.values():  # an executor that lost a job must not make it vanish
                record = failed_record(job, settings, "the executor finished without reporting this job")
                store.record_job(record)
                summary.records.append(record)
                if on_record is not None:
                    on_record(record)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        summary.status = status
        store.finish_run(run_id, status)
    return summary


def plan_results(store: Any, plan: Plan) -> pd.DataFrame:
    """Long-form results of every job of the plan (run now or finished before), with provenance."""
    frame = store.results_frame(model_ids=[card.id for card in plan.cards])
    if frame.empty:
        return frame
    keys = set(plan.keys)
    frame_keys = [
        job_key(m, w if isinstance(w, str) else None, a, v, p, None if pd.isna(s) else int(s))
        for m, w, a, v, p, s in zip(
            frame.model_id, frame.weight_hash, frame.attack, frame.attack_version, frame.params_hash, frame.seed,
            strict=True,
        )
    ]
    frame = frame.assign(job_key=frame_keys)
    return frame[frame.job_key.isin(keys)].reset_index(drop=True)


def evaluate(
    models: str | ModelCard | Sequence[str | ModelCard],
    attacks: str | Sequence[str] | Sequence[type[Attack]],
    *,
    seeds: int | Iterable[int] = 1,
    store: Any | None = None,
    executor: str | Executor = "local",
    params: Mapping[str, Any] | Iterable[str] | None = None,
    force: bool = False,
    device: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    pretrained: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Run attacks on models and return the long-form results frame of every planned job.

    ``models``: a catalog query (``"dataset=mnist"``), ids, or cards. ``attacks``: names or globs
    (``"mia.*"``). ``params``: ``{"mia.correctness": {"n": 500}}`` or ``["mia.correctness.n=500"]``.
    ``store``: a `Store`, a database URL, or None for the default database (so a rerun of the same
    jobs is free). Jobs already finished are not rerun unless ``force``. Failed jobs have no result
    rows; they are listed in ``frame.attrs["failed"]`` with their errors, and jobs that cannot run on a model
    (e.g. a white-box attack on a black-box-only ONNX graph) in ``frame.attrs["not_applicable"]`` with the reason.
    """
    from securitynet.store import Store

    if store is None or isinstance(store, str):
        store = Store(store)
    cards = select_models(models, store)
    plan = build_plan(cards, attacks, seeds=seeds, params=params, store=store, force=force, pretrained=pretrained)
    summary = execute_plan(
        plan, store, executor=executor, workers=workers, address=address, device=device, progress=progress,
        command=f"securitynet.evaluate (pid {os.getpid()})",
    )
    frame = plan_results(store, plan)
    frame.attrs["run_id"] = summary.run_id
    frame.attrs["failed"] = [
        {"model_id": r.model_id, "attack": r.attack, "seed": r.seed, "error": r.error} for r in summary.failed
    ]
    frame.attrs["not_applicable"] = [
        {"model_id": e.job.model_id, "attack": e.job.attack, "seed": e.job.seed, "reason": e.reason}
        for e in plan.not_applicable
    ]
    return frame
