"""`securitynet runs list`: the runs of the store with their state and job counts.

Listing first marks "interrupted" the runs of this machine whose driver process is gone, so a run
killed with SIGKILL shows as such at once, not only when the next run starts.
"""

from __future__ import annotations

import typer

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit

runs_app = typer.Typer(help="Runs recorded in the store.", no_args_is_help=True)

COLUMNS = (
    Column("id", "run", kind="id"),
    Column("status", "state"),
    Column("started_at", "started"),
    Column("finished_at", "finished", show=False),
    Column("host", "host", kind="id"),
    Column("jobs_done", "done", kind="int"),
    Column("jobs_failed", "failed", kind="int"),
    Column("jobs", "jobs", kind="int", show=False),
    Column("pid", kind="int", show=False),
    Column("executor", show=False),
    Column("software_version", "version", show=False),
    Column("command", show=False),
)


@runs_app.command("list")
@clean_errors
def list_runs(
    limit: int = typer.Option(None, "--limit", min=1, help="Only the newest N runs."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Runs, newest first, with their state (running, finished, failed, interrupted) and job counts."""
    from securitynet.engine.processes import driver_gone, mark_interrupted_runs

    store = get_store(read_only=True)
    closed = [] if store.read_only else mark_interrupted_runs(store)
    rows = store.runs_overview(limit)
    if store.read_only:  # shown as they are, not saved: the database cannot be written
        for row in rows:
            if row["status"] == "running" and driver_gone(row["host"], row["pid"]):
                row["status"] = "interrupted"
                closed.append(row["id"])
    if fmt == OutputFormat.table:  # minutes are enough on screen; JSON and CSV keep the full time
        for row in rows:
            row["started_at"] = f"{row['started_at']:%Y-%m-%d %H:%M}"
    emit(rows, COLUMNS, fmt, title=f"runs in {store.url}")
    if not rows and fmt == OutputFormat.table:
        console.print("no run recorded yet")
    if closed:
        saved = " (not saved: the database is read-only)" if store.read_only else ""
        err_console.print(f"marked interrupted (their process is gone){saved}: {', '.join(closed)}")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
