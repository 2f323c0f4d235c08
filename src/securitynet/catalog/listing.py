"""Select cards (store and built-in catalog alike) and write them as CSV, JSON or Markdown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from securitynet.catalog.card import ModelCard

ExportFormat = Literal["csv", "json", "markdown"]

# Flat columns of a card, for CSV and tables; the full card is in JSON.
FRAME_COLUMNS: tuple[str, ...] = (
    "id", "name", "source", "dataset", "architecture", "model_type", "family", "purpose", "data_category",
    "num_classes", "train_size", "published_train_accuracy", "published_test_accuracy", "published_overfit_gap",
    "venue", "venue_type", "year", "country", "num_authors", "paper_title", "paper_url", "weights_url",
    "weight_hash", "license", "missing_reasons",
)


@dataclass(frozen=True)
class CardFilter:
    """Every given field must match (text case-insensitively). `architecture` matches the card's
    architecture id, its published model type or its family, as the store's query does."""

    dataset: str | None = None
    architecture: str | None = None
    family: str | None = None
    purpose: str | None = None
    venue: str | None = None
    year: int | None = None
    source: str | None = None

    def matches(self, card: ModelCard) -> bool:
        def same(value: str | None, wanted: str | None) -> bool:
            return wanted is None or (value is not None and value.lower() == wanted.lower())

        if self.architecture is not None and not any(
            same(v, self.architecture) for v in (card.architecture, card.model_type, card.family)
        ):
            return False
        return (
            same(card.dataset, self.dataset)
            and same(card.family, self.family)
            and same(card.purpose, self.purpose)
            and same(card.paper.venue, self.venue)
            and same(card.source, self.source)
            and (self.year is None or card.paper.year == self.year)
        )

    def as_query(self) -> dict[str, Any]:
        return asdict(self)


def select_cards(store: Any, card_filter: CardFilter, builtin: Sequence[ModelCard] = ()) -> list[ModelCard]:
    """Cards in `store` matching the filter, plus matching built-in cards the store does not hold
    (a stored card wins over a built-in one with the same id), ordered by id."""
    stored = set(store.model_ids()) if builtin else set()
    cards = {card.id: card for card in builtin if card.id not in stored and card_filter.matches(card)}
    cards.update({card.id: card for card in store.query_cards(**card_filter.as_query())})
    return [cards[card_id] for card_id in sorted(cards)]


def card_row(card: ModelCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "name": card.name,
        "source": card.source,
        "dataset": card.dataset,
        "architecture": card.architecture,
        "model_type": card.model_type,
        "family": card.family,
        "purpose": card.purpose,
        "data_category": card.data_category,
        "num_classes": card.num_classes,
        "train_size": card.train_size,
        "published_train_accuracy": card.published.train_accuracy,
        "published_test_accuracy": card.published.test_accuracy,
        "published_overfit_gap": card.published.overfit_gap,
        "venue": card.paper.venue,
        "venue_type": card.paper.venue_type,
        "year": card.paper.year,
        "country": card.paper.country,
        "num_authors": card.paper.num_authors,
        "paper_title": card.paper.title,
        "paper_url": card.paper.url,
        "weights_url": card.weights.urls[0] if card.weights.urls else None,
        "weight_hash": card.weight_hash,
        "license": card.license,
        "missing_reasons": json.dumps(card.missing_reasons, sort_keys=True) if card.missing_reasons else None,
    }


def cards_frame(cards: Sequence[ModelCard]) -> pd.DataFrame:
    """One row per card; integer columns keep missing values as <NA>, never 0."""
    frame = pd.DataFrame([card_row(card) for card in cards], columns=list(FRAME_COLUMNS))
    for column in ("num_classes", "train_size", "year", "num_authors"):
        frame[column] = frame[column].astype("Int64")
    return frame


def render_cards(cards: Sequence[ModelCard], fmt: ExportFormat, *, results: pd.DataFrame | None = None) -> str:
    """CSV (flat columns), JSON (full cards) or Markdown in the published SecurityNet layout.

    For Markdown, `results` (a `Store.results_frame()`) fills the published attack columns;
    missing values are blank cells, never 0.
    """
    if fmt == "csv":
        return cards_frame(cards).to_csv(index=False)
    if fmt == "json":
        return json.dumps([card.to_dict() for card in cards], indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        from securitynet.catalog.sources.published import published_records
        from securitynet.catalog.sources.published_table import render_securitynet_table

        return render_securitynet_table("benchmark", published_records(cards, results))
    raise ValueError(f"unknown format {fmt!r}; use csv, json or markdown")
