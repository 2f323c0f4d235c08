"""Write cards as CSV, JSON or Markdown (`catalog.query` selects them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
