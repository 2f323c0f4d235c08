"""What a worker does with a model group: load the model once, run its jobs, release it.

Shared by every executor (in-process, process pool, Ray), so a job gives the same numbers wherever
it runs. Workers never touch the store: they yield events, and the driver alone writes.
Any exception in a job (or in loading its model: corrupt weights, wrong output shape...) becomes a
failed `JobRecord` with the error; the next job goes on.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from securitynet import config
from securitynet.attacks.base import AttackError, AttackResult
from securitynet.attacks.registry import get_attack
from securitynet.engine.access import queries_of, view_for
from securitynet.engine.cache import DEFAULT_MEMORY_BYTES, PosteriorCache
from securitynet.engine.context import JobContext, artifacts_dir_for
from securitynet.engine.plan import Job, ModelGroup
from securitynet.engine.seeding import derive_seed, seed_everything
from securitynet.errors import WeightsError
from securitynet.job_identity import JobRecord
from securitynet.zoo.devices import device_label
from securitynet.zoo.target import TargetModel


@dataclass(frozen=True)
class RunSettings:
    """Everything a worker needs besides the group itself (picklable: it travels to processes and Ray)."""

    run_id: str
    software_version: str
    executor: str = "local"
    device: str | None = None  # None: the GPU when there is one
    gpus_per_job: float | None = None  # Ray: GPUs each task reserves (None: 1 when the job runs on a GPU)
    pretrained: bool = True
    cache_root: str | None = None  # posterior cache folder; None: <cache dir>/posteriors
    disk_cache: bool = True
    memory_cache_bytes: int = DEFAULT_MEMORY_BYTES
    artifacts_root: str | None = None  # None: <home>/artifacts
    torch_threads: int | None = None

    def make_cache(self) -> PosteriorCache:
        return PosteriorCache(self.cache_root, disk=self.disk_cache, memory_bytes=self.memory_cache_bytes)

    def artifacts_path(self) -> Path:
        return Path(self.artifacts_root) if self.artifacts_root else config.artifacts_dir()


# --- events a worker reports ----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStarted:
    model_id: str
    jobs: int
    worker: str


@dataclass(frozen=True)
class JobFinished:
    record: JobRecord


@dataclass(frozen=True)
class ModelFinished:
    model_id: str


Event = ModelStarted | JobFinished | ModelFinished


def _now() -> datetime:
    return datetime.now(UTC)


def _environment(settings: RunSettings) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "host": platform.node(),
        "executor": settings.executor,
        "torch_threads": torch.get_num_threads(),
        # Which physical GPUs "cuda:0" was (Ray and schedulers set this per task).
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def failed_record(
    job: Job, settings: RunSettings, error: str, *, started: datetime | None = None,
    device: str | None = None, data: dict[str, Any] | None = None,
) -> JobRecord:
    return JobRecord(
        model_id=job.model_id, weight_hash=job.weight_hash, attack=job.attack, attack_version=job.attack_version,
        params=job.params, seed=job.seed, status="failed", error=error, data=data, origin=job.origin,
        run_id=settings.run_id, software_version=settings.software_version, device=device,
        started_at=started or _now(), finished_at=_now(),
    )


def _clean_metrics(result: Any, attack: str) -> tuple[dict[str, float | None], dict[str, str]]:
    """Plain floats (None when not measured, with a reason), or an AttackError naming the bad value."""
    if not isinstance(result, AttackResult):
        raise AttackError(f"attack {attack} returned {type(result).__name__}, not an AttackResult")
    metrics: dict[str, float | None] = {}
    reasons = {str(k): str(v) for k, v in result.missing_reasons.items()}
    for name, value in result.metrics.items():
        if not isinstance(name, str) or not name:
            raise AttackError(f"attack {attack} returned a metric without a name: {name!r}")
        if value is None:
            metrics[name] = None
            reasons.setdefault(name, "not measured")
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise AttackError(f"attack {attack} returned a non-numeric value for {name}: {value!r}") from None
        if not math.isfinite(number):
            metrics[name] = None
            reasons.setdefault(name, f"the attack computed {number}")
        else:
            metrics[name] = number
    return metrics, reasons


def run_job(
    job: Job, target: TargetModel, cache: PosteriorCache, settings: RunSettings, *, model_load_s: float
) -> JobRecord:
    """Run one job on a loaded model; never raises for the job's own failures."""
    started, clock = _now(), time.perf_counter()
    device = device_label(target.device)
    ctx: JobContext | None = None
    cache_before = cache.stats.as_dict()
    try:
        attack_cls = get_attack(job.attack)
        if attack_cls.version != job.attack_version:
            raise AttackError(
                f"attack {job.attack} is version {attack_cls.version} here but the plan asked for "
                f"{job.attack_version} (driver and worker run different code)"
            )
        attack = attack_cls(job.params)
        seed_everything(derive_seed(job.seed, job.key, "global"))
        ctx = JobContext(
            card=target.card, seed=job.seed, job_key=job.key, access=attack_cls.access, device=target.device,
            cache=cache, artifacts_dir=artifacts_dir_for(settings.artifacts_path(), job.model_id, job.attack, job.key),
        )
        ctx.discard_artifacts()  # files of an earlier run of this key belong to the result being replaced
        view = view_for(target, attack_cls.access)
        result = attack.run(view, ctx)
        metrics, reasons = _clean_metrics(result, job.attack)
    except Exception as exc:
        if ctx is not None:
            ctx.discard_artifacts()
        data = {
            "traceback": traceback.format_exc(limit=20),
            "timings": {"model_load_s": model_load_s, "job_s": time.perf_counter() - clock},
            "environment": _environment(settings),
        }
        return failed_record(job, settings, error_text(exc), started=started, device=device, data=data)
    cache_after = cache.stats.as_dict()
    data = {
        "attack": {**ctx.notes, **result.data},
        "data_used": ctx.data_used,
        "target_queries": queries_of(view),
        "timings": {"model_load_s": model_load_s, "job_s": time.perf_counter() - clock},
        "posterior_cache": {k: cache_after[k] - cache_before[k] for k in cache_after},
        "environment": _environment(settings),
    }
    artifacts = {**ctx.artifacts, **result.artifacts}
    return JobRecord(
        model_id=job.model_id, weight_hash=job.weight_hash, attack=job.attack, attack_version=job.attack_version,
        params=job.params, seed=job.seed, status="done", metrics=metrics, missing_reasons=reasons, data=data,
        artifacts=artifacts, origin=job.origin, run_id=settings.run_id, software_version=settings.software_version,
        device=device, started_at=started, finished_at=_now(),
    )


def _load(group: ModelGroup, settings: RunSettings) -> TargetModel:
    from securitynet.zoo.loader import load_target

    target = load_target(group.card, device=settings.device, pretrained=settings.pretrained)
    if group.weight_hash is not None and target.weight_hash != group.weight_hash:
        raise WeightsError(
            f"weights of {group.card.id} changed since the run was planned: "
            f"planned {group.weight_hash}, loaded {target.weight_hash}"
        )
    return target


def release_memory(module_ref: weakref.ReferenceType[torch.nn.Module] | None = None) -> None:
    """Free a finished model. A full garbage collection (0.1 s and more in a large process) runs only when
    the module outlived its last reference, i.e. sits in a reference cycle; usually reference counting
    has freed it already."""
    if module_ref is None or module_ref() is not None:
        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_model_group(
    group: ModelGroup, settings: RunSettings, cache: PosteriorCache | None = None, *, worker: str = "local"
) -> Iterator[Event]:
    """Load the group's model once, run its jobs in order, release the model: yields events as it goes."""
    cache = cache if cache is not None else settings.make_cache()
    yield ModelStarted(group.card.id, len(group.jobs), worker)
    clock = time.perf_counter()
    started = _now()
    try:
        target = _load(group, settings)
    except Exception as exc:
        error = f"loading model {group.card.id} failed: {error_text(exc)}"
        data = {"traceback": traceback.format_exc(limit=20), "environment": _environment(settings)}
        for job in group.jobs:
            yield JobFinished(failed_record(job, settings, error, started=started, data=data))
        yield ModelFinished(group.card.id)
        return
    load_s = time.perf_counter() - clock
    try:
        for job in group.jobs:
            yield JobFinished(run_job(job, target, cache, settings, model_load_s=load_s))
    finally:
        # Release the model and its posteriors before the next one, so a run over many models needs
        # the memory of one.
        cache.forget(target)
        module_ref = weakref.ref(target.module)
        del target
        release_memory(module_ref)
    yield ModelFinished(group.card.id)
