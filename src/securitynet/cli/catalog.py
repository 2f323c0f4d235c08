"""`securitynet catalog ...`: list, show, export and import model cards."""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.cli.output import Column, emit
from securitynet.files import atomic_write_text

catalog_app = typer.Typer(help="The catalog of public models: list, show, export, import.", no_args_is_help=True)


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    markdown = "markdown"


class ShowFormat(StrEnum):
    table = "table"  # the card as YAML, then the headline tables of its results
    yaml = "yaml"  # the same (the name it had first)
    json = "json"
    csv = "csv"  # the results, one row per attack variant and seed, every metric


CARD_COLUMNS = [
    Column("id", kind="id"), Column("dataset", kind="id"), Column("arch", kind="id"), Column("purpose"),
    Column("classes", kind="int"), Column("test_acc", "pub. acc", kind="number"), Column("year", kind="int"),
]

# Selection shared by list and export: a query in the one selection language, and its filters as options.
SELECTION: list[inspect.Parameter] = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, annotation, default in (
        ("query", list[str], typer.Argument(None, metavar="QUERY", show_default=False,
                                            help="Ids, id globs or key=value filters, as `evaluate --models` "
                                                 "takes them.")),
        ("dataset", str, typer.Option(None, "--dataset", help="Dataset name, e.g. mnist, cifar10 (a case-insensitive "
                                                             "glob).")),
        ("architecture", str, typer.Option(None, "--architecture", help="Architecture id, model type or family.")),
        ("family", str, typer.Option(None, "--family", help="Architecture family, e.g. resnet.")),
        ("purpose", str, typer.Option(None, "--purpose", help="benchmark, security, other or self-trained.")),
        ("venue", str, typer.Option(None, "--venue", help="Publication venue, e.g. CVPR.")),
        ("year", int, typer.Option(None, "--year", help="Publication year.")),
        ("source", str, typer.Option(None, "--source", help="Card source: published, pytorchcv, medmnist, file, ...")),
        ("builtin", bool, typer.Option(True, "--builtin/--no-builtin",
                                       help="Include built-in cards not in the database.")),
    )
]


def _selecting(command: Callable[..., None]) -> Callable[..., None]:
    """A command that takes the selection (SELECTION's arguments) and is handed (store, cards) as `selected`."""
    names = [parameter.name for parameter in SELECTION]

    @functools.wraps(command)
    def with_selection(**kwargs: Any) -> None:
        query, builtin = kwargs.pop("query"), kwargs.pop("builtin")
        filters = {name: kwargs.pop(name) for name in names if name in kwargs}
        command(selected=_selected(query, builtin, **filters), **kwargs)

    own = [p for p in inspect.signature(command).parameters.values() if p.name != "selected"]
    with_selection.__signature__ = inspect.Signature([*own, *SELECTION])  # type: ignore[attr-defined]
    return with_selection


def _selected(query: list[str] | None, builtin: bool, **options: str | int | None) -> tuple[Any, list[Any]]:
    """The store and the cards the query and the filter options select (built-in cards too unless --no-builtin)."""
    import warnings

    from securitynet.catalog.query import Query, SkippedSourceWarning, select_cards

    selection = (Query.parse(" ".join(query)) if query else Query()).narrowed(**options)
    store = get_store(read_only=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedSourceWarning)  # every time, not once per process
        cards = select_cards(selection, store, builtin=builtin, required=False)
    for warning in caught:
        if issubclass(warning.category, SkippedSourceWarning):
            err_console.print(f"[yellow]note:[/] {warning.message}")
        else:  # as Python would have shown it
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return store, cards


def _published_results(store: Any, ids: list[str]) -> Any:
    """Published result rows of these cards, to fill the attack columns of the Markdown layout."""
    from securitynet.catalog.sources.published import ORIGIN

    return store.results_frame(model_ids=ids, origin=ORIGIN) if ids else None


@catalog_app.command("list")
@clean_errors
@_selecting
def list_cards(
    selected: tuple[Any, list[Any]],
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="table, csv, json or markdown."),
) -> None:
    """List model cards (database and built-in catalog) that the query and every filter select."""
    from securitynet.catalog.listing import render_cards

    store, cards = selected
    if fmt != ListFormat.table:
        results = _published_results(store, [c.id for c in cards]) if fmt == ListFormat.markdown else None
        typer.echo(render_cards(cards, fmt.value, results=results), nl=False)
        return
    rows = [{"id": card.id, "dataset": card.dataset, "arch": card.model_type or card.architecture,
             "purpose": card.purpose, "classes": card.num_classes, "test_acc": card.published.test_accuracy,
             "year": card.paper.year} for card in cards]
    emit(rows, CARD_COLUMNS, "table", title=f"{len(cards)} model card(s) (--format csv or json: every field)")


@catalog_app.command("show")
@clean_errors
def show_card(
    card_id: str = typer.Argument(..., metavar="ID", help="Card id, e.g. securitynet/cifar10/resnet20_cifar10."),
    fmt: ShowFormat = typer.Option(ShowFormat.table, "--format", help="table (YAML + results), json or csv."),
    all_metrics: bool = typer.Option(False, "--all-metrics", help="Every stored metric, not only the headline ones."),
) -> None:
    """Show one card in full, and the results stored for it (one row per attack variant: its headline metrics)."""
    from securitynet.analysis.results import results_table
    from securitynet.attacks import headline_metrics_by_attack
    from securitynet.catalog.builtin import find_card
    from securitynet.cli.result_view import emit_results, frame_rows
    from securitynet.errors import UnknownModelError

    store = get_store(read_only=True)
    try:
        card = find_card(card_id, store)
    except UnknownModelError:
        raise UnknownModelError(f"no model card with id {card_id!r} (neither in the database at {store.url} "
                                "nor built in); `securitynet catalog list` shows the ids") from None
    if fmt == ShowFormat.json:
        frame = store.results_frame(model_ids=[card_id])
        records = sorted((_result_record(row) for row in frame.to_dict("records")),
                         key=lambda r: (r["origin"], r["attack"], json.dumps(r["params"], sort_keys=True), r["metric"]))
        typer.echo(json.dumps({"card": card.to_dict(), "results": records}, indent=2, sort_keys=True))
        return
    headline = headline_metrics_by_attack()
    table = results_table(store, [card_id], seeds="all", headline=headline, all_metrics=True)
    if fmt == ShowFormat.csv:
        emit_results(frame_rows(table), "csv", headline=headline, seed_key="seed")
        return
    typer.echo(yaml.safe_dump(card.to_dict(), sort_keys=False, allow_unicode=True), nl=False)
    if table.empty:
        console.print("[dim]no results stored for this model[/]")
        return
    scope = "every metric" if all_metrics else "headline metrics, seeds averaged; --all-metrics for the rest"
    console.print(f"results stored for {card_id} ({scope})")
    summary = results_table(store, [card_id], seeds="mean", headline=headline, all_metrics=all_metrics)
    emit_results(frame_rows(summary), "table", headline=headline, all_metrics=all_metrics, title="results")


def _result_record(row: dict[str, Any]) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value

    params = row.get("params_json")
    if isinstance(params, str):
        params = json.loads(params)
    seed = clean(row.get("seed"))
    return {
        "attack": row["attack"],
        "attack_version": row["attack_version"],
        "params": params or {},
        "params_hash": row["params_hash"],
        "seed": None if seed is None else int(seed),
        "metric": row["metric"],
        "value": clean(row["value"]),
        "missing_reason": clean(row["missing_reason"]),
        "origin": row["origin"],
        "weight_hash": clean(row.get("weight_hash")),
        "run_id": clean(row.get("run_id")),
    }


@catalog_app.command("export")
@clean_errors
@_selecting
def export_cards(
    selected: tuple[Any, list[Any]],
    fmt: ExportFormat = typer.Option(..., "--format", help="csv, json or markdown (the SecurityNet layout)."),
    out: Path = typer.Option(None, "--out", help="File to write (replaced atomically); default: standard output."),
) -> None:
    """Write the selected cards to a file, or to standard output without --out."""
    from securitynet.catalog.listing import render_cards

    store, cards = selected
    results = _published_results(store, [c.id for c in cards]) if fmt == ExportFormat.markdown else None
    text = render_cards(cards, fmt.value, results=results)
    if out is None:
        typer.echo(text, nl=False)
        return
    out = out.expanduser()
    atomic_write_text(out, text)  # a failed export never leaves half a file
    console.print(f"wrote {len(cards)} card(s) as {fmt.value} to {out}")


@catalog_app.command("import-securitynet")
@clean_errors
def import_securitynet(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="The SecurityNet database README (Database/README.MD)."),
    strict: bool = typer.Option(False, "--strict",
                                help="Refuse a table with duplicate rows (default: keep each once, with a warning)."),
) -> None:
    """Import the published SecurityNet database: cards, published results, New Models papers."""
    from securitynet.catalog.sources.published import import_securitynet_database
    from securitynet.errors import TableFormatError, TableRowsError

    store = get_store()
    try:
        with console.status(f"importing {path}"):
            report = import_securitynet_database(path, store, strict=strict)
    except TableRowsError as exc:  # every bad row on its own line, then the one-line verdict
        for problem in exc.problems:
            err_console.print(f"  {problem}", highlight=False, soft_wrap=True)
        raise TableFormatError(exc.summary) from None
    counts = [("benchmark models", report.benchmark), ("security models", report.security),
              ("new-model papers", report.papers), ("published jobs", report.jobs),
              ("published result values", report.results), ("duplicate names disambiguated", len(report.renamed)),
              ("stale cards removed", report.removed_stale),
              *((f"linked to {source} cards (same_as)", n) for source, n in sorted(report.matched.items()))]
    emit([{"what": what, "count": count} for what, count in counts], [Column("what"), Column("count", kind="int")],
         "table", title=f"imported {path.name} into {store.url}")
    emit([{"count": count, "reason": reason} for reason, count in report.missing_by_reason.most_common()],
         [Column("count", kind="int"), Column("reason")], "table",
         title=f"values stored as missing ({sum(report.missing_by_reason.values())}), by reason")
    for name, count in report.unknown_datasets.items():
        err_console.print(f"[yellow]warning:[/] unknown dataset name {name!r} ({count} rows); kept as "
                          "a normalised name, add it to DATASET_NAMES")
    for name, count in report.unknown_purposes.items():
        err_console.print(f"[yellow]warning:[/] unknown purpose {name!r} ({count} rows); stored as missing")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")


@catalog_app.command("register")
@clean_errors
def register_builtin() -> None:
    """Write every built-in card into the database (insert or replace by id)."""
    from securitynet.catalog.builtin import load_builtin_catalog

    store = get_store()
    catalog = load_builtin_catalog()
    count = store.upsert_cards(catalog.cards)
    for module, n in catalog.sources.items():
        console.print(f"{module}: {n} card(s)")
    for module in catalog.skipped:
        err_console.print(f"[yellow]note:[/] built-in source {module} is not installed; skipped")
    console.print(f"registered {count} built-in card(s) in {store.url}")


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
