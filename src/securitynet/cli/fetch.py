"""`securitynet fetch QUERY`: bring the weights of the selected models into the cache, verified."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.cli.output import Column, emit


def register(app: typer.Typer) -> None:
    @app.command("fetch")
    @clean_errors
    def fetch(
        query: str = typer.Argument(
            ...,
            help="Card id, glob over ids ('pytorchcv/resnet*') or key=value filters ('dataset=mnist,source=file').",
        ),
        offline: bool = typer.Option(
            False, "--offline", help="Never download: use mirror folders and the cache only (also SECURITYNET_OFFLINE)."
        ),
        mirror: list[Path] = typer.Option(
            [],
            "--mirror",
            exists=True,
            file_okay=False,
            help="Folder holding weight files by name, searched before SECURITYNET_MIRROR (repeatable).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON record per model instead of a table."),
    ) -> None:
        """Download and verify the weights of every selected model; report per model what failed and why."""
        from securitynet.catalog.query import select_cards
        from securitynet.zoo.weights import try_fetch

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cards = select_cards(query, get_store())
        for warning in caught:
            err_console.print(f"[yellow]warning:[/] {warning.message}")

        outcomes = []
        for index, card in enumerate(cards, start=1):
            if not as_json:
                err_console.print(f"[dim]({index}/{len(cards)})[/] {card.id}")
            outcomes.append(try_fetch(card, offline=offline, progress=not as_json, mirrors=mirror))

        if as_json:
            records = [
                {
                    "model": o.card_id,
                    "ok": o.ok,
                    "path": str(o.path) if o.path else None,
                    "sha256": o.sha256,
                    "origin": o.origin,
                    "verified_with": o.verified_with,
                    "reason": o.reason,
                    "attempts": [vars(a) for a in o.attempts],
                }
                for o in outcomes
            ]
            typer.echo(json.dumps(records, indent=2))  # plain text: no wrapping or colour in machine output
        else:
            _print_tables(outcomes)
        failed = sum(not o.ok for o in outcomes)
        if not as_json:
            colour = "red" if failed else "green"
            console.print(f"[{colour}]{len(outcomes) - failed} of {len(outcomes)} fetched, {failed} failed[/]")
        if failed:
            raise typer.Exit(1)


def _print_tables(outcomes: list) -> None:
    """Fetched weights, then failures with their reason (a path and a sentence wrap differently)."""
    fetched = [{"model": o.card_id, "from": o.origin,
                "verified": ", ".join(o.verified_with) if o.verified_with else "unverified: card has no hash",
                "sha256": (o.sha256 or "")[:16] or None, "path": str(o.path)} for o in outcomes if o.ok]
    if fetched:
        emit(fetched, [Column("model", kind="id"), Column("from"), Column("verified"), Column("sha256"),
                       Column("path", kind="id")], "table", title="Weights")
    failed = [{"model": o.card_id, "why": o.reason or str(o.error)} for o in outcomes if not o.ok]
    if failed:
        emit(failed, [Column("model", kind="id"), Column("why", "why it failed")], "table", title="Weights not fetched")
