"""`securitynet quickstart`: the main job of `make run`."""

from __future__ import annotations

import typer

from securitynet.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_command)


@clean_errors
def quickstart_command() -> None:
    """Register the catalog, annotate the public MNIST models and the digits zoo, attack them, write the report."""
    from securitynet.quickstart import run_quickstart

    store = get_store()
    console.print(f"database: {store.url}")
    run_quickstart(store, console)
