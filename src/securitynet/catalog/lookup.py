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
    direct = _card_of_library_source(card_id)
    if direct is not None:
        return direct
    cards = builtin_cards_by_id()
    if card_id in cards:
        return cards[card_id]
    raise UnknownModelError(f"no model card with id {card_id!r} (neither in the store nor built in)")


def _card_of_library_source(card_id: str) -> ModelCard | None:
    """A timm or torchvision card made directly from the installed library (no need to build all 2,000 cards), or
    the card of a Hub repo with a timm config.json (`hf-hub/<org>/<name>`, read from the Hub or its cache)."""
    from securitynet.errors import CardError

    source, _, name = card_id.partition("/")
    if source == "hf-hub" and name.count("/") == 1:  # its errors say what is wrong with the repo: let them through
        from securitynet.catalog.sources.hf_hub import card_from_hub_repo

        return card_from_hub_repo(name)
    try:
        if source == "timm":
            from securitynet.catalog.sources.timm_hub import card_for_tag, classifier_tags

            return card_for_tag(name) if name in classifier_tags() else None
        if source == "torchvision":
            from securitynet.catalog.sources.torchvision_weights import card_for, weight_names

            builder = next((b for b, w in weight_names() if w == name), None)
            return card_for(builder, name) if builder else None
    except CardError:
        return None
    return None
