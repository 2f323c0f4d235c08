"""Find a card by id: the store first (imported and self-trained cards), then the built-in catalog."""

from __future__ import annotations

from functools import lru_cache

from securitynet.catalog.card import ModelCard
from securitynet.errors import UnknownModelError


@lru_cache(maxsize=1)
def builtin_cards_by_id() -> dict[str, ModelCard]:
    from securitynet.catalog.builtin import load_builtin_catalog

    return {card.id: card for card in load_builtin_catalog().cards}


def find_card(card_id: str, store: object | None = None) -> ModelCard:
    if store is not None:
        try:
            return store.get_card(card_id)  # type: ignore[attr-defined]
        except UnknownModelError:
            pass
    cards = builtin_cards_by_id()
    if card_id in cards:
        return cards[card_id]
    raise UnknownModelError(f"no model card with id {card_id!r} (neither in the store nor built in)")
