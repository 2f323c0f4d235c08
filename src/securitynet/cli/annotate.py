"""`securitynet annotate QUERY...`: measure train/test accuracy and overfit gap, store them, show them."""

from __future__ import annotations

import math
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.cli.evaluate import ExecutorChoice
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit, render_table

if TYPE_CHECKING:
    from securitynet.annotation import AnnotationRow

# JSON / CSV: every value of AnnotationRow.as_dict, published beside measured.
ANNOTATION_COLUMNS = [Column(key) for key in (
    "model_id", "status", "train_accuracy", "published_train_accuracy", "test_accuracy", "published_test_accuracy",
    "overfit_gap", "published_overfit_gap", "num_classes", "train_size", "member_split", "n_member", "n_test",
    "published_source", "error",
)]


def register(app: typer.Typer) -> None:
    app.command("annotate")(annotate_command)


@clean_errors
def annotate_command(
    query: list[str] = typer.Argument(
        ..., help="Card ids, globs ('file/*') or key=value filters ('dataset=mnist purpose=security')."
    ),
    member_split: str = typer.Option(None, help="Member pool split (default: the card's training split)."),
    test_split: str = typer.Option(None, help="Held-out split (default: the dataset's test split)."),
    max_images: int = typer.Option(
        None, min=1, help="Use at most this many images per split (a seeded random subset)."
    ),
    device: str = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available, else cpu)."),
    force: bool = typer.Option(False, "--force", help="Measure again even when the same job is stored."),
    executor: ExecutorChoice = typer.Option(ExecutorChoice.local, "--executor", help="Where the jobs run."),
    address: str = typer.Option(None, "--address", help="Ray cluster address ('auto' or host:port)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Worker processes (process) or CPUs (local Ray)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Annotate models: train accuracy on the member pool, test accuracy, overfit gap, classes, training size.

    Each model is one `annotation.accuracy` job of the engine: stored at once, skipped when already stored.
    """
    from securitynet.annotation import annotate_models
    from securitynet.catalog.query import select_cards
    from securitynet.engine.executors import make_executor

    runner = make_executor(executor.value, workers=workers, address=address)
    runner.check_device(device)  # an unusable device: one line before the run is recorded
    table = fmt is OutputFormat.table
    say = console if table else err_console  # with JSON or CSV, standard output carries only the data
    store = get_store()
    cards = select_cards(" ".join(query), store)  # raises a clear error when nothing matches
    run = annotate_models(
        cards, store, member_split=member_split, test_split=test_split, max_images=max_images, device=device,
        force=force, executor=runner, progress=progress, console=say,
        command=shlex.join(["securitynet", *sys.argv[1:]]),
    )
    if table:
        print_annotation(run.rows, console)
    else:
        emit([row.as_dict() for row in run.rows], ANNOTATION_COLUMNS, fmt.value)
    counts = Counter(row.status for row in run.rows)
    where = f"results in {store.url}" + (f" (run {run.run_id})" if run.run_id else "")
    say.print(
        f"{counts['done']} measured, {counts['skipped']} already stored (use --force to measure again), "
        f"{counts['failed']} failed; {where}"
    )
    if counts["failed"]:
        raise typer.Exit(1)


# --- the published-versus-measured table -------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def _delta(measured: float | None, published: float | None) -> str:
    if measured is None or published is None:
        return "-"
    return f"{100 * (measured - published):+.2f}"


def _cell(measured: float | None, published: float | None) -> str:
    """The measured value, and under it the published one when there is one."""
    if published is None:
        return _pct(measured)
    return f"{_pct(measured)}\n({_pct(published)})"


def annotation_table(rows: Sequence[AnnotationRow], width: int = 80) -> Any:
    """A table fitted to ``width``: measured values (in %) with the published ones under them, the test difference."""
    columns = [Column("model", kind="id"), Column("pool", "member pool"), Column("train"), Column("test"),
               Column("gap"), Column("delta", "Δ test"), Column("classes", kind="int"),
               Column("size", "n train", kind="int")]
    records = []
    for row in rows:
        m, p = row.metrics, row.published or {}
        records.append({
            # A failed model is marked; its error is printed under the table (too long for a cell).
            "model": row.card.id + (" (failed)" if row.status == "failed" else ""),
            "pool": None if row.member_split is None else f"{row.member_split} ({row.n_member})",
            "train": _cell(m.get("train_accuracy"), p.get("train_accuracy")),
            "test": _cell(m.get("test_accuracy"), p.get("test_accuracy")),
            "gap": _cell(m.get("overfit_gap"), p.get("overfit_gap")),
            "delta": _delta(m.get("test_accuracy"), p.get("test_accuracy")),
            "classes": m.get("num_classes"), "size": m.get("train_size"),
        })
    return render_table(records, columns, width=width,
                        title="Annotation: accuracy in %, (published) under measured, Δ in points")


def print_annotation(rows: Sequence[AnnotationRow], say: Console | None = None) -> None:
    """The table, then each failure's first line (errors are too long for a table cell; the store keeps them)."""
    say = say or console
    say.print(annotation_table(rows, width=say.width))
    for row in rows:
        if row.error:
            say.print(f"[red]{escape(row.card.id)} failed:[/] {escape(row.error.splitlines()[0])}")
    sources = sorted({row.published_source for row in rows if row.published_source})
    if sources:
        say.print(f"[dim]published values from: {escape('; '.join(sources))}[/]")
