"""Which models a run covers: a catalog query, ids, or cards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from securitynet.catalog.builtin import find_card
from securitynet.catalog.card import ModelCard
from securitynet.catalog.query import select_cards


def select_models(models: str | ModelCard | Sequence[str | ModelCard], store: Any | None) -> list[ModelCard]:
    """Cards for a query string (``dataset=mnist``, ids, id globs), a card, or a list of ids and cards."""
    if isinstance(models, ModelCard):
        return [models]
    if isinstance(models, str):
        return select_cards(models, store)  # raises a clear error when it selects no card
    return [item if isinstance(item, ModelCard) else find_card(item, store) for item in models]
