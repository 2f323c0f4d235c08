"""`securitynet catalog coverage`: how much of the published SecurityNet catalog can be evaluated here."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import TaskID

from securitynet.cli.common import clean_errors, err_console, get_store
from securitynet.cli.output import Column, emit
from securitynet.errors import SecurityNetError
from securitynet.progress import ProgressDisplay


class CoverageFormat(StrEnum):
    table = "table"
    json = "json"  # the whole report
    csv = "csv"  # the per source and dataset counts


class CoverageDevice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    meta = "meta"


NO_PUBLISHED = ("the database holds no published cards: run `securitynet catalog import-securitynet PATH` "
                "first, or pass --table PATH, for the coverage of the published SecurityNet table")


def _published_cards(table: Path | None) -> list:
    if table is not None:
        from securitynet.catalog.sources.published import iter_cards

        return list(iter_cards(table))
    return get_store().query_cards(source="published")


def _sources() -> list:
    """Per card source: built-in cards, cards only in the database, and what the library lists."""
    from securitynet.catalog.builtin import load_builtin_catalog
    from securitynet.catalog.source_coverage import source_rows, stored_extra_by_source

    builtin = load_builtin_catalog().cards
    return source_rows(builtin, stored_extra_by_source(get_store(), {card.id for card in builtin}))


SOURCE_COLUMNS = [Column("source", kind="id"), Column("builtin", "built in", kind="int"),
                  Column("stored", "added", kind="int"), Column("listed", "library lists", kind="int"),
                  Column("note", kind="text")]


def _print_sources(rows: list) -> None:
    emit([row.to_dict() for row in rows], SOURCE_COLUMNS, "table", title="Card sources")


def _source_cards(source: str) -> list:
    from securitynet.catalog.builtin import load_builtin_catalog

    cards = load_builtin_catalog().cards
    chosen = [card for card in cards if card.source == source]
    if not chosen:
        known = ", ".join(sorted({card.source for card in cards}))
        raise SecurityNetError(f"no built-in card has source {source!r}; built-in sources: {known}")
    return chosen


def coverage(
    table: Path = typer.Option(None, "--table", exists=True, dir_okay=False,
                               help="Read the published table from this file instead of the database."),
    source: str = typer.Option(None, "--source",
                               help="Check the built-in cards of this source (e.g. robustbench) instead of the "
                               "published models."),
    fetch: bool = typer.Option(False, "--fetch", help="Download missing weights (with verification)."),
    mirror: list[Path] = typer.Option([], "--mirror", exists=True, file_okay=False,
                                      help="Folder holding weight files, searched before SECURITYNET_MIRROR."),
    weights: bool = typer.Option(True, "--weights/--no-weights", help="Look for (and verify) local weights."),
    layout: bool = typer.Option(True, "--layout/--no-layout", help="Compare built modules with checkpoint layouts."),
    device: CoverageDevice = typer.Option(CoverageDevice.auto, "--device",
                                          help="auto: meta forward for all, real CPU forward for small models."),
    fmt: CoverageFormat = typer.Option(CoverageFormat.table, "--format",
                                       help="table, json (the whole report) or csv (the counts)."),
    details: bool = typer.Option(False, "--details", help="Also list every model with a problem."),
) -> None:
    """Per source and dataset: published models with a card, a building architecture, a weight URL with a hash,
    verified weights and a matching checkpoint layout; and where each source's weights come from."""
    from securitynet.zoo.coverage import published_coverage

    sources = _sources()
    cards = _source_cards(source) if source else _published_cards(table)
    quiet = fmt is not CoverageFormat.table
    if not quiet:
        _print_sources(sources)
    if not cards:
        if fmt is CoverageFormat.json:
            typer.echo(json.dumps({"sources": [row.to_dict() for row in sources]}, indent=2))
        elif quiet:
            emit([row.to_dict() for row in sources], SOURCE_COLUMNS, fmt.value)
        else:
            err_console.print(f"[yellow]note:[/] {NO_PUBLISHED}")
        return
    with ProgressDisplay(None, "coverage", console=err_console, transient=True, enabled=not quiet) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(description: str, index: int, total: int) -> None:
            phase = description.split(" ", 1)[0]
            if phase not in tasks:
                if tasks:  # the previous phase is over
                    bar.finished(list(tasks)[-1])
                tasks[phase] = bar.add_row(phase, total)
            bar.working_on(phase)
            bar.update_row(tasks[phase], completed=index, description=description)

        report = published_coverage(cards, device=device.value, check_weights=weights, fetch=fetch, mirrors=mirror,
                                    layout=layout, progress=progress)
    if fmt is CoverageFormat.json:
        typer.echo(json.dumps({"sources": [row.to_dict() for row in sources], **report.to_dict()}, indent=2))
        return
    weights_note = "" if report.weights_checked else " (weights not checked)"
    emit(_summary_rows(report), SUMMARY_COLUMNS, fmt.value,
         title=f"{f'Built-in source {source}' if source else 'Published SecurityNet models'}: coverage{weights_note}")
    if quiet:
        return
    emit([{"source": source, "weights": text} for source, text in report.weight_origins.items()],
         [Column("source", kind="id"), Column("weights")], "table", title="Where the weights come from")
    if details:
        emit(_problem_rows(report), [Column("model", kind="id"), Column("problem")], "table",
             title="Models with a problem")


SUMMARY_COLUMNS = [
    Column("source", kind="id"), Column("dataset", kind="id"), Column("models", kind="int"),
    Column("card", kind="int"), Column("builds", kind="int"), Column("url_with_hash", "URL+hash", kind="int"),
    Column("verified", kind="int"), Column("layout_ok", "layout ok", kind="int"),
]


def _summary_rows(report) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"source": g.source, "dataset": g.dataset, "models": g.models, "card": g.card, "builds": g.builds,
             "url_with_hash": g.url_with_hash, "verified": g.verified, "layout_ok": g.layout_ok}
            for g in [*report.groups, report.total]]


def _problem_rows(report) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = []
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
            rows.append({"model": row.card_id, "problem": "; ".join(problems)})
    return rows


def register(app: typer.Typer) -> None:
    from securitynet.cli.catalog import catalog_app

    catalog_app.command("coverage")(clean_errors(coverage))
