"""One rich progress line over the models of a zoo being built (models reused from disk count as done)."""

from __future__ import annotations

from typing import Any


class ZooProgress:
    """``with ZooProgress(enabled, total, "digits zoo") as bar: bar.start(model_id); ...; bar.done()``."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label
        self.progress: Any = None

    def __enter__(self) -> ZooProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
            )
            self.progress.__enter__()
            self.task = self.progress.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def start(self, model_id: str) -> None:
        """Show which model is being trained now."""
        if self.progress is not None:
            self.progress.update(self.task, description=f"{self.label}: {model_id.rsplit('/', 1)[-1]}")

    def done(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
