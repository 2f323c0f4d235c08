"""Progress bars for a run: all jobs, and one bar per model currently running (rich)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from securitynet.engine.worker import Event, JobFinished, ModelFinished, ModelStarted


class RunProgress:
    """Feeds on worker events; does nothing when disabled (library use, tests)."""

    def __init__(self, total_jobs: int, *, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled and total_jobs > 0
        self.failed = 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not self.enabled,
        )
        self._overall: TaskID = self._progress.add_task("jobs", total=total_jobs, note="")
        self._models: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def update(self, event: Event) -> None:
        if isinstance(event, ModelStarted):
            self._models[event.model_id] = self._progress.add_task(
                f"  {event.model_id}", total=event.jobs, note=event.worker
            )
        elif isinstance(event, JobFinished):
            record = event.record
            if record.status != "done":
                self.failed += 1
            self._progress.advance(self._overall)
            self._progress.update(self._overall, note=f"{self.failed} failed" if self.failed else "")
            task = self._models.get(record.model_id)
            if task is not None:
                self._progress.advance(task)
                self._progress.update(task, note=f"{record.attack} seed {record.seed}: {record.status}")
        elif isinstance(event, ModelFinished):
            task = self._models.pop(event.model_id, None)
            if task is not None:
                self._progress.remove_task(task)
