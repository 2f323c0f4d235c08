"""One progress display for every long loop of SecurityNet: runs, annotation, zoos, training, downloads.

On a terminal it is a rich bar that says what is being worked on now (model, attack) and shows items
done / failed and the time left, on one line of an 80-column terminal. Without a terminal (a pipe, a CI
log) a bar redrawn in place means nothing and rich would print it once at the very end, so there it
prints one plain line per finished item instead::

    [12/40] file/lenet5_advertorch_clean mia.loss done 1.2s
    [13/40] file/lenet5_advertorch_clean mia.lira failed: TrainingError: loss became nan

Sub-steps (images of one model, training steps, bytes) only move the terminal bar: a line for each
would drown the lines that matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich import get_console
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from securitynet.text import shorten_middle

DESCRIPTION_WIDTH = 40
OTHER_COLUMNS_WIDTH = 40  # bar, counts, failures and time left take about this much of a line
REASON_WIDTH = 160


def one_line(reason: BaseException | str | None) -> str:
    """The first line of an error, short enough for a log line."""
    text = str(reason or "").strip()
    if isinstance(reason, BaseException):
        text = f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    first = text.splitlines()[0] if text else "unknown error"
    return first if len(first) <= REASON_WIDTH else first[: REASON_WIDTH - 3] + "..."


def default_columns() -> tuple[ProgressColumn, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(bar_width=10),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeRemainingColumn(),
    )


class ProgressDisplay:
    """``with ProgressDisplay(40, "jobs") as bar: bar.working_on("m attack"); ...; bar.finished("m attack")``.

    ``enabled=False`` shows nothing (library use). ``lines=False`` keeps a non-terminal silent (for loops whose
    items are not worth a log line each, such as files checked one by one). ``columns`` replaces the default
    columns (a download shows bytes and speed).
    """

    def __init__(self, total: int | None, label: str, *, console: Console | None = None, enabled: bool = True,
                 transient: bool = False, lines: bool = True, columns: Sequence[ProgressColumn] | None = None) -> None:
        self.console = console or get_console()
        self.total, self.label = total, label
        self.live = enabled and self.console.is_terminal and not self.console.is_dumb_terminal
        self.lines = enabled and lines and not self.live
        self.done = 0
        self.failed = 0
        # Descriptions get what the other columns leave of the line, so an 80-column bar stays on one line.
        self.width = max(DESCRIPTION_WIDTH // 2, self.console.width - OTHER_COLUMNS_WIDTH)
        self._progress = Progress(*(columns or default_columns()), console=self.console, transient=transient,
                                  disable=not self.live)
        self._main = self._progress.add_task(shorten_middle(label, self.width), total=total, note="")

    def __enter__(self) -> ProgressDisplay:
        self._progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def working_on(self, what: str) -> None:
        """Name what the loop works on now, on the bar."""
        description = f"{self.label}: {what}" if what else self.label
        self._progress.update(self._main, description=shorten_middle(description, self.width))

    def advance(self, steps: float = 1) -> None:
        """Move the bar without finishing a named item (bytes, training steps)."""
        self._progress.advance(self._main, steps)

    @property
    def main(self) -> TaskID:
        """The main bar's row (to change its total once a download knows its size)."""
        return self._main

    def finished(self, item: str, *, error: BaseException | str | None = None, seconds: float | None = None,
                 detail: str = "", advance: float = 1) -> None:
        """One item is over: count it (failed when ``error``), and off a terminal print its line."""
        self.done += 1
        if error is not None:
            self.failed += 1
        self._progress.update(self._main, advance=advance, note=f"{self.failed} failed" if self.failed else "")
        if not self.lines:
            return
        count = f"[{self.done}/{self.total}]" if self.total is not None else f"[{self.done}]"
        if error is not None:
            outcome = f"failed: {one_line(error)}"
        else:
            outcome = "done" + (f" {detail}" if detail else "") + (f" {seconds:.1f}s" if seconds is not None else "")
        self.console.print(f"{count} {item} {outcome}", highlight=False, markup=False, soft_wrap=True)

    # Rows under the main bar: one per model running now, images of one model, ...
    def add_row(self, description: str, total: float | None) -> TaskID:
        return self._progress.add_task(shorten_middle(description, self.width), total=total, note="")

    def update_row(self, row: TaskID, *, description: str | None = None, advance: float = 0, **fields: Any) -> None:
        if description is not None:
            fields["description"] = shorten_middle(description, self.width)
        self._progress.update(row, advance=advance, **fields)

    def remove_row(self, row: TaskID) -> None:
        self._progress.remove_task(row)

    def description(self, row: TaskID | None = None) -> str:
        """What a row says now (the main bar by default)."""
        wanted = self._main if row is None else row
        return next(str(task.description) for task in self._progress.tasks if task.id == wanted)
