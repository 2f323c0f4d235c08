"""`securitynet catalog coverage`: how much of the published SecurityNet catalog can be evaluated here."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.errors import SecurityNetError


class CoverageFormat(StrEnum):
    table = "table"
    json = "json"


class CoverageDevice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    meta = "meta"


def _published_cards(table: Path | None) -> list:
    if table is not None:
        from securitynet.catalog.sources.published import iter_cards

        return list(iter_cards(table))
    cards = get_store().query_cards(source="published")
    if not cards:
        raise SecurityNetError(
            "the database holds no published cards: run `securitynet catalog import-securitynet PATH` first, "
            "or pass --table PATH"
        )
    return cards


def coverage(
    table: Path = typer.Option(None, "--table", exists=True, dir_okay=False,
                               help="Read the published table from this file instead of the database."),
    fetch: bool = typer.Option(False, "--fetch", help="Download missing weights (with verification)."),
    mirror: list[Path] = typer.Option([], "--mirror", exists=True, file_okay=False,
                                      help="Folder holding weight files, searched before SECURITYNET_MIRROR."),
    weights: bool = typer.Option(True, "--weights/--no-weights", help="Look for (and verify) local weights."),
    layout: bool = typer.Option(True, "--layout/--no-layout", help="Compare built modules with checkpoint layouts."),
    device: CoverageDevice = typer.Option(CoverageDevice.auto, "--device",
                                          help="auto: meta forward for all, real CPU forward for small models."),
    fmt: CoverageFormat = typer.Option(CoverageFormat.table, "--format", help="table or json."),
    details: bool = typer.Option(False, "--details", help="Also list every model with a problem."),
) -> None:
    """Per source and dataset: published models with a card, a building architecture, a weight URL with a hash,
    verified weights and a matching checkpoint layout; and where each source's weights come from."""
    from securitynet.zoo.coverage import published_coverage

    cards = _published_cards(table)
    quiet = fmt is CoverageFormat.json
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True, disable=quiet) as bar:
        tasks: dict[str, int] = {}

        def progress(description: str, index: int, total: int) -> None:
            phase = description.split(" ", 1)[0]
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=index, description=description[:70])

        report = published_coverage(cards, device=device.value, check_weights=weights, fetch=fetch, mirrors=mirror,
                                    layout=layout, progress=progress)
    if quiet:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    console.print(_summary_table(report))
    origins = Table(title="Where the weights come from", show_header=True)
    origins.add_column("source")
    origins.add_column("weights", overflow="fold")
    for source, text in report.weight_origins.items():
        origins.add_row(source, text)
    console.print(origins)
    if details:
        console.print(_problem_table(report))


def _summary_table(report) -> Table:  # type: ignore[no-untyped-def]
    weights_note = "" if report.weights_checked else " (not checked)"
    table = Table(title="Published SecurityNet models: coverage")
    for column in ("source", "dataset", "models", "card", "builds", "URL + hash", f"verified{weights_note}",
                   "layout ok"):
        table.add_column(column, justify="left" if column in ("source", "dataset") else "right")
    for group in [*report.groups, report.total]:
        style = "bold" if group.source == "all" else None
        table.add_row(group.source, group.dataset, str(group.models), str(group.card), str(group.builds),
                      str(group.url_with_hash), str(group.verified), str(group.layout_ok), style=style)
    return table


def _problem_table(report) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title="Models with a problem")
    table.add_column("model", overflow="fold")
    table.add_column("problem", overflow="fold")
    for row in report.rows:
        problems = []
        if not row.matched_card:
            problems.append("no source card")
        if not row.classes_ok:
            problems.append(f"architecture: {row.build_detail}")
        if row.weight_hash is None:
            problems.append("no weight hash")
        if row.weights not in ("verified", "not-checked", "not-local"):
            problems.append(f"weights {row.weights}: {row.weights_detail}")
        if row.layout_ok is False:
            problems.append(f"layout: {row.layout_detail}")
        if problems:
            table.add_row(row.card_id, "; ".join(problems))
    return table


def register(app: typer.Typer) -> None:
    from securitynet.cli.catalog import catalog_app

    catalog_app.command("coverage")(clean_errors(coverage))
