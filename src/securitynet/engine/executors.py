"""Executors: where model groups run. In-process (default), a local process pool, or a Ray cluster.

Every executor runs `worker.run_model_group` on each group and yields its events to the driver,
which alone writes to the store (so SQLite serves a cluster run too, and workers need no database
access). A worker that dies (killed, out of memory) does not stop the run: the jobs it did not report
come back as failed records. On Ray, where losing a node is routine, those jobs are first resubmitted
to the other nodes (`RayExecutor.max_attempts`).
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import torch

from securitynet.engine.plan import ModelGroup
from securitynet.engine.worker import (
    Event,
    JobFinished,
    ModelFinished,
    ModelStarted,
    RunSettings,
    failed_record,
    run_model_group,
)
from securitynet.errors import DeviceError, SecurityNetError, first_line
from securitynet.zoo.devices import parse_device, resolve_device

EXECUTORS = ("local", "process", "ray")

logger = logging.getLogger(__name__)


class Executor:
    name = "executor"

    def check_device(self, device: str | None, gpus_per_job: float | None = None) -> None:
        """A DeviceError, before any job starts, when the run's device cannot be used here."""
        if gpus_per_job is not None:
            raise DeviceError(f"--gpus-per-job applies to --executor ray, not {self.name}")
        if device is not None:
            resolve_device(device)

    def run(self, groups: Sequence[ModelGroup], settings: RunSettings) -> Iterator[Event]:
        raise NotImplementedError


class _Outstanding:
    """Jobs not yet reported, per group: what to mark failed when a worker disappears."""

    def __init__(self, groups: Sequence[ModelGroup]) -> None:
        self.jobs = {i: {job.key: job for job in g.jobs} for i, g in enumerate(groups)}
        self.groups = list(groups)

    def reported(self, index: int, event: Event) -> None:
        if isinstance(event, JobFinished):
            self.jobs[index].pop(event.record.key, None)

    def fail(self, index: int, settings: RunSettings, error: str) -> Iterator[Event]:
        for job in list(self.jobs[index].values()):
            yield JobFinished(failed_record(job, settings, error))
        self.jobs[index].clear()
        yield ModelFinished(self.groups[index].card.id)

    def remaining(self) -> list[int]:
        return [i for i, jobs in self.jobs.items() if jobs]

    def unreported(self, index: int) -> ModelGroup:
        """The group with only its jobs not reported yet: what to run again after losing its worker."""
        return replace(self.groups[index], jobs=list(self.jobs[index].values()))


class LocalExecutor(Executor):
    """Everything in this process, one model after the other (one posterior cache for the run)."""

    name = "local"

    def run(self, groups: Sequence[ModelGroup], settings: RunSettings) -> Iterator[Event]:
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        cache = settings.make_cache()
        for group in groups:
            yield from run_model_group(group, settings, cache, worker=f"pid {os.getpid()}")


# --- local process pool ---------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """A driver killed with SIGKILL must not leave workers running jobs nobody will record (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def _process_worker(tasks: Any, events: Any, settings: RunSettings, parent_pid: int) -> None:
    """Worker process loop: take groups until the sentinel, report every event on the queue."""
    _die_with_parent(parent_pid)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    cache = settings.make_cache()
    worker = f"pid {os.getpid()}"
    while True:
        task = tasks.get()
        if task is None:
            return
        index, group = task
        for event in run_model_group(group, settings, cache, worker=worker):
            events.put((index, worker, event))


class ProcessExecutor(Executor):
    """A pool of spawned worker processes, one model group at a time each."""

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(2, os.cpu_count() or 1)

    def run(self, groups: Sequence[ModelGroup], settings: RunSettings) -> Iterator[Event]:
        if not groups:
            return
        context = mp.get_context("spawn")  # fork would copy the driver's torch threads and CUDA state
        count = max(1, min(self.workers, len(groups)))
        if settings.torch_threads is None:
            settings = _with_threads(settings, max(1, (os.cpu_count() or 1) // count))
        tasks, events = context.Queue(), context.Queue()
        for index, group in enumerate(groups):
            tasks.put((index, group))
        for _ in range(count):
            tasks.put(None)
        processes = [
            context.Process(
                target=_process_worker, args=(tasks, events, settings, os.getpid()), daemon=True, name=f"sn-worker-{i}"
            )
            for i in range(count)
        ]
        for process in processes:
            process.start()
        outstanding = _Outstanding(groups)
        working_on: dict[str, int] = {}  # worker -> group index
        pids = {f"pid {p.pid}": p for p in processes}
        try:
            while outstanding.remaining():
                try:
                    index, worker, event = events.get(timeout=0.5)
                except queue.Empty:
                    yield from self._reap(processes, pids, working_on, outstanding, settings)
                    continue
                if isinstance(event, ModelStarted):
                    working_on[worker] = index
                elif isinstance(event, ModelFinished):
                    working_on.pop(worker, None)
                outstanding.reported(index, event)
                yield event
        finally:
            for process in processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
                    process.join()

    @staticmethod
    def _reap(
        processes: list[Any], pids: dict[str, Any], working_on: dict[str, int],
        outstanding: _Outstanding, settings: RunSettings,
    ) -> Iterator[Event]:
        """Fail the jobs of workers that died; when none is left, fail everything still outstanding."""
        for worker, process in pids.items():
            if process.exitcode not in (None, 0) and worker in working_on:
                index = working_on.pop(worker)
                error = f"worker process {worker} died (exit code {process.exitcode}) while running this model"
                yield from outstanding.fail(index, settings, error)
        if all(p.exitcode is not None for p in processes):
            for index in outstanding.remaining():
                yield from outstanding.fail(index, settings, "every worker process exited before this job ran")


def _with_threads(settings: RunSettings, threads: int) -> RunSettings:
    return replace(settings, torch_threads=threads)


# --- Ray ------------------------------------------------------------------------------------------

# Environment that workers need to find the same data, caches and plug-in attacks as the driver.
_FORWARDED_ENV_PREFIXES = ("SECURITYNET_",)
_FORWARDED_ENV = ("PYTHONPATH",)
# Database addresses stay with the driver: it alone writes to the store, so workers never get one.
_DRIVER_ONLY_ENV = ("SECURITYNET_DB", "SECURITYNET_TEST_POSTGRES_URL")


def worker_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's variables that Ray workers get (``runtime_env``): paths and plug-ins, never the store."""
    environ = dict(os.environ if environ is None else environ)
    return {
        k: v for k, v in environ.items()
        if (k.startswith(_FORWARDED_ENV_PREFIXES) or k in _FORWARDED_ENV) and k not in _DRIVER_ONLY_ENV
    }


def _lost_worker_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray's errors for a task whose worker process or node went away (not an error of the task's own code)."""
    exceptions = ray.exceptions
    return (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.LocalRayletDiedError,
            exceptions.OutOfMemoryError, exceptions.ObjectLostError)


def _ray_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}"


def _ray_group_events(group: ModelGroup, settings: RunSettings) -> Iterator[Event]:
    """A Ray generator task: streams a group's events back to the driver as jobs finish."""
    torch.set_num_threads(settings.torch_threads or 1)
    yield from run_model_group(group, settings, worker=f"ray pid {os.getpid()}")


class RayExecutor(Executor):
    """Model groups as Ray tasks on a local instance or a cluster (``address``); events streamed back.

    A task whose worker or node is lost is resubmitted with only the jobs it had not reported, up to
    ``max_attempts`` times in all; after that those jobs are failed records. Ray's own task retries stay off
    (``max_retries=0``): they would rerun the whole group, jobs already stored included.
    """

    name = "ray"
    _lock = threading.Lock()

    def __init__(self, address: str | None = None, workers: int | None = None, max_attempts: int = 3) -> None:
        self.address = address
        self.workers = workers
        self.max_attempts = max_attempts

    def check_device(self, device: str | None, gpus_per_job: float | None = None) -> None:
        """Checks what the driver can know; whether the cluster has GPUs is checked once connected (`run`)."""
        name, parsed = device, parse_device(device) if device is not None else None
        gpus = gpus_per_job
        if gpus is not None and not (gpus > 0 and math.isfinite(gpus)):
            raise DeviceError(f"--gpus-per-job must be a number of GPUs above 0 (0.5 shares one GPU), got {gpus}")
        if parsed is not None and parsed.type == "cpu" and gpus is not None:
            raise DeviceError("--gpus-per-job asks for GPUs but --device is cpu")
        if parsed is not None and parsed.type == "cuda" and parsed.index is not None:
            # Ray hides every GPU but the task's own (CUDA_VISIBLE_DEVICES), so cuda:1 would not exist there.
            raise DeviceError(f"--device {name}: Ray chooses each job's GPU; use --device cuda")

    @staticmethod
    def gpus_to_request(settings: RunSettings, cluster_gpus: float) -> float:
        """``num_gpus`` for each task: 0 on the CPU. Ray hides GPUs from tasks that do not reserve one, so the
        default device reserves one wherever the cluster has GPUs, or every job would silently run on CPU."""
        if settings.device is not None and settings.device.startswith("cpu"):
            return 0
        wants_gpu = settings.device is not None or settings.gpus_per_job is not None or cluster_gpus > 0
        if not wants_gpu:
            return 0
        num_gpus = settings.gpus_per_job if settings.gpus_per_job is not None else 1
        if cluster_gpus < num_gpus:
            raise DeviceError(
                f"each job asks for {num_gpus:g} GPU(s) but the Ray cluster has {cluster_gpus:g}; "
                "use --device cpu or add GPU nodes"
            )
        return num_gpus

    def _init(self, ray: Any) -> bool:
        """Connect or start Ray; True when this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {
            "runtime_env": {"env_vars": worker_env()},
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if self.address:
            ray.init(address=self.address, **kwargs)
        else:
            ray.init(num_cpus=self.workers or min(2, os.cpu_count() or 1), **kwargs)
        return True

    def run(self, groups: Sequence[ModelGroup], settings: RunSettings) -> Iterator[Event]:
        try:
            import ray
        except ImportError:
            raise SecurityNetError(
                "the Ray executor needs ray: pip install 'securitynet[ray]'"
            ) from None
        if not groups:
            return
        with self._lock:
            started_here = self._init(ray)
        try:
            options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
            num_gpus = self.gpus_to_request(settings, ray.cluster_resources().get("GPU", 0))
            if num_gpus:
                options["num_gpus"] = num_gpus
            elif settings.device is None:
                settings = replace(settings, device="cpu")
            task = ray.remote(_ray_group_events).options(**options)
            yield from self._stream(ray, task, groups, settings)
        finally:
            if started_here:
                ray.shutdown()

    def _stream(self, ray: Any, task: Any, groups: Sequence[ModelGroup], settings: RunSettings) -> Iterator[Event]:
        """Submit every group, yield events as tasks report them, resubmit what lost workers had left."""
        lost_worker = _lost_worker_errors(ray)
        outstanding = _Outstanding(groups)
        attempts = dict.fromkeys(range(len(groups)), 1)
        streams = {task.remote(group, settings): index for index, group in enumerate(groups)}
        while streams:
            ready, _ = ray.wait(list(streams), num_returns=1)
            for stream in ready:
                index = streams[stream]
                try:
                    event = ray.get(next(stream))
                except StopIteration:
                    del streams[stream]
                    if outstanding.jobs[index]:
                        yield from outstanding.fail(index, settings, "the Ray task ended without reporting")
                    continue
                except lost_worker as exc:  # the worker process or its node went away: try another
                    del streams[stream]
                    retry = outstanding.unreported(index)
                    if not retry.jobs:  # lost after its last report: nothing to run again
                        yield ModelFinished(retry.card.id)
                        continue
                    if attempts[index] >= self.max_attempts:
                        error = f"Ray lost the worker of this model {attempts[index]} times, last: {_ray_error(exc)}"
                        yield from outstanding.fail(index, settings, error)
                        continue
                    attempts[index] += 1
                    logger.warning(
                        "%s: Ray lost its worker (%s); resubmitted its %d unreported job(s), attempt %d of %d",
                        retry.card.id, _ray_error(exc), len(retry.jobs), attempts[index], self.max_attempts,
                    )
                    yield ModelFinished(retry.card.id)  # the retry reports ModelStarted again
                    streams[task.remote(retry, settings)] = index
                    continue
                except Exception as exc:  # the task's own code failed (e.g. a module missing on the worker)
                    del streams[stream]
                    yield from outstanding.fail(index, settings, f"Ray task failed: {_ray_error(exc)}")
                    continue
                outstanding.reported(index, event)
                yield event


def make_executor(name: str = "local", *, workers: int | None = None, address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address=address, workers=workers)
    raise SecurityNetError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
