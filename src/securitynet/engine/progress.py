"""Progress of a run: the jobs done and failed, and the model and attack each running model is on now.

Workers report a model's start, each finished job and the model's end; a model's jobs run in the plan's
order, so the job running now is the first of its model's jobs not yet reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import TaskID

from securitynet.engine.plan import Job, ModelGroup
from securitynet.engine.worker import Event, JobFinished, ModelFinished, ModelStarted
from securitynet.job_identity import JobRecord
from securitynet.progress import ProgressDisplay


def job_name(job: Job | JobRecord, *, with_seed: bool = False) -> str:
    """``model attack``, and ``seed N`` when the run has several seeds."""
    return f"{job.model_id} {job.attack}" + (f" seed {job.seed}" if with_seed else "")


class RunProgress:
    """Feeds on worker events; shows nothing when disabled (library use, tests)."""

    def __init__(self, groups: Sequence[ModelGroup], *, enabled: bool = True, console: Console | None = None) -> None:
        total = sum(len(group.jobs) for group in groups)
        self.display = ProgressDisplay(total, "jobs", console=console, enabled=enabled and total > 0)
        self._pending = {group.card.id: deque(group.jobs) for group in groups}
        self._rows: dict[str, TaskID] = {}
        self._with_seed = len({job.seed for group in groups for job in group.jobs}) > 1

    @property
    def failed(self) -> int:
        return self.display.failed

    def __enter__(self) -> RunProgress:
        self.display.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.display.__exit__(exc_type, exc, tb)

    def update(self, event: Event) -> None:
        if isinstance(event, ModelStarted):
            self._rows[event.model_id] = self.display.add_row(f"  {event.model_id}", event.jobs)
            self._show_next(event.model_id)
        elif isinstance(event, JobFinished):
            record = event.record
            pending = self._pending.get(record.model_id)
            if pending:
                pending.popleft()
            seconds = None
            if record.started_at is not None and record.finished_at is not None:
                seconds = (record.finished_at - record.started_at).total_seconds()
            error = None if record.status == "done" else (record.error or record.status)
            self.display.finished(job_name(record, with_seed=self._with_seed), error=error, seconds=seconds)
            row = self._rows.get(record.model_id)
            if row is not None:
                self.display.update_row(row, advance=1)
            self._show_next(record.model_id)
        elif isinstance(event, ModelFinished):
            row = self._rows.pop(event.model_id, None)
            if row is not None:
                self.display.remove_row(row)

    def _show_next(self, model_id: str) -> None:
        pending = self._pending.get(model_id)
        if not pending:
            return
        job = pending[0]
        self.display.working_on(job_name(job, with_seed=self._with_seed))
        row = self._rows.get(model_id)
        if row is not None:
            self.display.update_row(row, description=f"  {model_id}: {job.attack}")
