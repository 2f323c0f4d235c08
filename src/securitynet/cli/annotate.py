"""`securitynet annotate QUERY...`: measure train/test accuracy and overfit gap, store them, show them."""

from __future__ import annotations

import fnmatch
import importlib
import uuid

import typer

from securitynet.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    app.command("annotate")(annotate_command)


@clean_errors
def annotate_command(
    query: list[str] = typer.Argument(
        ..., help="Card ids, globs ('file/*') or key=value filters ('dataset=mnist purpose=security')."
    ),
    member_split: str = typer.Option(None, help="Member pool split (default: the card's training split)."),
    test_split: str = typer.Option(None, help="Held-out split (default: the dataset's test split)."),
    max_images: int = typer.Option(
        None, min=1, help="Use at most this many images per split (a seeded random subset)."
    ),
    device: str = typer.Option(None, help="torch device (default: cuda when available, else cpu)."),
    force: bool = typer.Option(False, "--force", help="Measure again even when the same job is stored."),
) -> None:
    """Annotate models: train accuracy on the member pool, test accuracy, overfit gap, classes, training size."""
    from securitynet.annotation import annotate_models

    store = get_store()
    cards = select_cards(" ".join(query), store)
    if not cards:
        console.print(f"[yellow]no model matches[/] {' '.join(query)!r}")
        raise typer.Exit(1)
    run_id = f"annotate-{uuid.uuid4().hex[:12]}"
    rows = annotate_models(
        cards, store, member_split=member_split, test_split=test_split, max_images=max_images,
        device=device, force=force, run_id=run_id, console=console,
    )
    failed = [row for row in rows if row.status == "failed"]
    console.print(
        f"{len(rows) - len(failed)} of {len(rows)} models annotated; results stored in {store.url} (run {run_id})"
    )
    if failed:
        raise typer.Exit(1)


def select_cards(query: str, store):  # -> list[ModelCard]
    """The catalog's query language when available; a minimal local version until then."""
    try:
        module = importlib.import_module("securitynet.catalog.query")
    except ModuleNotFoundError as exc:
        if exc.name != "securitynet.catalog.query":
            raise
        return _select_cards_fallback(query, store)
    return module.select_cards(query, store)


def _all_cards(store) -> dict:
    from securitynet.catalog.sources import BUILTIN_SOURCES

    cards = {}
    for name in BUILTIN_SOURCES:
        try:
            source = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a built-in source not written yet
            raise
        cards.update({card.id: card for card in source.iter_cards()})
    cards.update({card.id: card for card in store.query_cards()})  # the store's version wins
    return cards


def _select_cards_fallback(query: str, store) -> list:
    from securitynet.errors import UnknownModelError

    terms = query.split()
    filters = dict(term.split("=", 1) for term in terms if "=" in term)
    patterns = [term for term in terms if "=" not in term]
    cards = _all_cards(store)
    chosen = []
    for pattern in patterns:
        matched = sorted(card_id for card_id in cards if fnmatch.fnmatchcase(card_id, pattern))
        if not matched:
            raise UnknownModelError(f"no model card matches {pattern!r}")
        chosen += [card_id for card_id in matched if card_id not in chosen]
    selected = [cards[i] for i in (chosen if patterns else sorted(cards))]
    for key, value in filters.items():
        selected = [card for card in selected if str(_field(card, key)).lower() == value.lower()]
    return selected


def _field(card, key: str):
    value = card
    for part in key.split("."):
        value = getattr(value, part, None)
    return value
