"""`securitynet quickstart`: the main job of `make run`, with its tables drawn here (80 columns, cli/output)."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from securitynet.cli.annotate import print_annotation
from securitynet.cli.common import clean_errors, console, get_store
from securitynet.cli.output import Column, render_table


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_command)


@clean_errors
def quickstart_command() -> None:
    """Register the catalog, annotate the public MNIST models and the digits zoo, attack them, write the report."""
    from securitynet.quickstart import run_quickstart

    store = get_store()
    console.print(f"database: {store.url}")
    run_quickstart(store, console, tables=quickstart_tables())


def quickstart_tables() -> Any:
    """The tables the quickstart job prints: annotation (published beside measured) and model stealing."""
    from securitynet.quickstart import QuickstartTables

    return QuickstartTables(annotation=print_annotation, stealing=print_stealing)


def stealing_table(summary: dict[str, dict[str, dict[str, float]]], width: int = 80) -> Any:
    """One row per model: target accuracy, queries, agreement on in-distribution and out-of-distribution queries."""

    def value(sets: dict[str, dict[str, float]], query_set: str, metric: str) -> float | None:
        found = sets.get(query_set, {}).get(metric)
        return None if found is None or found != found else found

    rows = [{"model": model, "target": value(sets, "in-distribution", "target_accuracy"),
             "queries": value(sets, "in-distribution", "queries"),
             "in": value(sets, "in-distribution", "agreement"), "out": value(sets, "out-of-distribution", "agreement")}
            for model, sets in sorted(summary.items())]
    columns = [Column("model", kind="id"), Column("target", "target acc", kind="number"),
               Column("queries", kind="int"), Column("in", "agree (in)", kind="number"),
               Column("out", "agree (ood)", kind="number")]
    return render_table(rows, columns, width=width,
                        title="model stealing: surrogate agreement with the target on its unqueried test images")


def print_stealing(summary: dict[str, dict[str, dict[str, float]]], say: Console) -> None:
    say.print(stealing_table(summary, width=say.width))
