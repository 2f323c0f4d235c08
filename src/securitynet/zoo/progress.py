"""Progress over the models of a zoo being built (models reused from disk count as done)."""

from __future__ import annotations

import time

from rich.console import Console

from securitynet.progress import ProgressDisplay


class ZooProgress:
    """``with ZooProgress(enabled, total, "digits zoo") as bar: bar.start(model_id); ...; bar.done()``."""

    def __init__(self, enabled: bool, total: int, label: str, console: Console | None = None) -> None:
        self.display = ProgressDisplay(total, label, console=console, enabled=enabled)
        self._model = ""
        self._clock = time.perf_counter()

    def __enter__(self) -> ZooProgress:
        self.display.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.display.__exit__(*exc)  # type: ignore[arg-type]

    def start(self, model_id: str) -> None:
        """Show which model is being trained now."""
        self._model, self._clock = model_id, time.perf_counter()
        self.display.working_on(model_id.rsplit("/", 1)[-1])

    def done(self) -> None:
        self.display.finished(self._model, seconds=time.perf_counter() - self._clock)
