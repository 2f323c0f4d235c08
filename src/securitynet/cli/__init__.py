"""The `securitynet` command. Each command group lives in its own module with a `register(app)`."""

from __future__ import annotations

import importlib

import typer

from securitynet.cli.common import clean_errors_everywhere, state

app = typer.Typer(
    name="securitynet",
    help="Measure how vulnerable public machine-learning models are.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Modules that add commands; each has register(app). Append new ones here.
COMMAND_MODULES: tuple[str, ...] = (
    "securitynet.cli.catalog",
    "securitynet.cli.coverage",
    "securitynet.cli.annotate",
    "securitynet.cli.fetch",
    "securitynet.cli.evaluate",
    "securitynet.cli.attacks",
    "securitynet.cli.data",
    "securitynet.cli.report",
    "securitynet.cli.serve",
    "securitynet.cli.quickstart",
    "securitynet.cli.zoo",
    "securitynet.cli.runs",
    "securitynet.cli.cache",
    "securitynet.cli.results",
    "securitynet.cli.catalog_add",
    "securitynet.cli.plugins",
)


@app.callback()
def _root(
    db: str = typer.Option(
        None, "--db", envvar="SECURITYNET_DB", help="SQLAlchemy URL or SQLite path of the store."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="SECURITYNET_DEBUG", help="Show the traceback of an error, not one line."
    ),
) -> None:
    state.db_url = db
    state.debug = debug


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)
# Every command, whoever wrote it, reports a SecurityNetError or a database error as one line.
clean_errors_everywhere(app)


def main() -> None:
    app()
