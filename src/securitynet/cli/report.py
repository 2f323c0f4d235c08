"""`securitynet report`: statistics, figures and tables of the stored results, as one HTML file and more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from securitynet.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    @app.command("report")
    @clean_errors
    def report(
        out: Path = typer.Option(Path("report"), "--out", "-o", help="Folder to write the report into."),
        models: str = typer.Option(
            None, "--models", "-m",
            help="Only these models: card id, glob over ids or key=value filters ('dataset=mnist,purpose=benchmark').",
        ),
        bootstrap: int = typer.Option(1000, "--bootstrap", min=100, help="Bootstrap resamples per interval."),
        title: str = typer.Option("SecurityNet report", "--title", help="Title of the HTML page."),
    ) -> None:
        """Write report.html (self-contained), figures/*.png|svg, tables/*.csv and securitynet_database.md."""
        from securitynet.analysis.report import write_report
        from securitynet.catalog.sources.benchmark_layout import BENCHMARK_LAYOUT

        store = get_store(read_only=True)
        with console.status("computing statistics and drawing figures"):
            result = write_report(store, out, BENCHMARK_LAYOUT, model_ids=select_model_ids(store, models),
                                  selection=models, n_boot=bootstrap, title=title)
        for line in result.membership_gap_lines():
            console.print(line, highlight=False, soft_wrap=True, markup=False)
        for name, why in result.not_drawn.items():
            console.print(f"[dim]figure {name} not drawn: {why}[/]", highlight=False, soft_wrap=True)
        console.print(
            f"report of {result.n_models} models and {result.n_values} values: {result.html}\n"
            f"  figures: {result.out_dir / 'figures'}  tables: {result.out_dir / 'tables'}  "
            f"database table: {result.markdown}\n"
            f"  browse the database: securitynet serve --report {result.out_dir}",
            highlight=False, soft_wrap=True,
        )


def select_model_ids(store: Any, query: str | None) -> list[str] | None:
    """Ids of the store's models that a catalog query selects (None: no query, every model); a ReportError
    when it selects none. Here, not in analysis: analysis reads the store only, selecting cards is the catalog's."""
    if query is None or not query.strip():
        return None
    from securitynet.analysis.report import ReportError
    from securitynet.catalog.query import filter_cards

    chosen = filter_cards(store.query_cards(), query)
    if not chosen:
        raise ReportError(f"no model in the store at {store.url} matches {query!r}")
    return [card.id for card in chosen]
