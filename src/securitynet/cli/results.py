"""`securitynet results`: what the store holds, as a model x attack table of headline metrics."""

from __future__ import annotations

from enum import StrEnum

import typer

from securitynet.cli.common import clean_errors, console, get_store
from securitynet.cli.output import FormatOption, OutputFormat


class SeedChoice(StrEnum):
    mean = "mean"
    all = "all"


AllMetricsOption = typer.Option(False, "--all-metrics", help="Every stored metric, not only the headline ones.")


def register(app: typer.Typer) -> None:
    app.command("results")(results_command)


@clean_errors
def results_command(
    models: str = typer.Option(
        None, "--models", "-m", help="Model query as for evaluate: ids, id globs ('file/*') or filters (default: all)."
    ),
    attacks: str = typer.Option(None, "--attacks", "-a", help="Attack names or globs, comma separated: 'mia.*'."),
    seeds: SeedChoice = typer.Option(SeedChoice.mean, "--seeds", help="mean: averaged over seeds; all: one row each."),
    all_metrics: bool = AllMetricsOption,
    published: bool = typer.Option(True, "--published/--no-published", help="Published values beside measured."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """The stored measurements: one row per model x attack variant, its headline metrics, published beside.

    A variant is told apart by the parameters that differ between the variants shown (`query_set=ood`).
    """
    from securitynet.analysis.results import results_table, split_globs
    from securitynet.attacks import headline_metrics_by_attack
    from securitynet.catalog.query import select_cards
    from securitynet.cli.result_view import emit_results, frame_rows

    store = get_store()
    model_ids = None if models is None else [card.id for card in select_cards(models, store)]
    headline = headline_metrics_by_attack()
    frame = results_table(store, model_ids, split_globs(attacks), seeds=seeds.value, headline=headline,
                          all_metrics=all_metrics, published=published)
    if frame.empty and fmt is OutputFormat.table:
        console.print(f"no results stored in {store.url} for these models and attacks")
        return
    emit_results(frame_rows(frame), fmt.value, headline=headline, all_metrics=all_metrics,
                 seed_key="seed" if seeds is SeedChoice.all else "seeds", title="results")
