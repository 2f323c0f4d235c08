"""Which models a run covers: a catalog query, ids, or cards."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from securitynet.catalog.card import ModelCard
from securitynet.catalog.lookup import find_card
from securitynet.errors import SecurityNetError, UnknownModelError


def select_models(models: str | ModelCard | Sequence[str | ModelCard], store: Any | None) -> list[ModelCard]:
    """Cards for a query string (``dataset=mnist``, ids, id globs), a card, or a list of ids and cards."""
    if isinstance(models, ModelCard):
        return [models]
    if isinstance(models, str):
        cards = _query(models, store)
        if not cards:
            raise SecurityNetError(f"the model query {models!r} matched no card")
        return cards
    cards = []
    for item in models:
        cards.append(item if isinstance(item, ModelCard) else find_card(item, store))
    return cards


def _query(query: str, store: Any | None) -> list[ModelCard]:
    try:
        from securitynet.catalog.query import select_cards
    except ImportError:
        return _fallback_query(query, store)
    return list(select_cards(query, store))


def _fallback_query(query: str, store: Any | None) -> list[ModelCard]:
    """Until the catalog's query language is in: comma-separated ids, id globs and key=value filters."""
    from securitynet.catalog.lookup import builtin_cards_by_id

    known: dict[str, ModelCard] = dict(builtin_cards_by_id())
    if store is not None:
        known.update({card.id: card for card in store.query_cards()})
    filters: dict[str, str] = {}
    chosen: dict[str, ModelCard] = {}
    for term in (t.strip() for t in query.split(",")):
        if not term:
            continue
        if "=" in term:
            key, _, value = term.partition("=")
            filters[key.strip()] = value.strip()
        elif any(ch in term for ch in "*?["):
            chosen.update({i: c for i, c in known.items() if fnmatch.fnmatchcase(i, term)})
        elif term in known:
            chosen[term] = known[term]
        else:
            raise UnknownModelError(f"no model card with id {term!r}")
    if filters:
        pool = chosen if chosen else known
        chosen = {i: c for i, c in pool.items() if all(_matches(c, k, v) for k, v in filters.items())}
    return [chosen[i] for i in sorted(chosen)]


def _matches(card: ModelCard, key: str, value: str) -> bool:
    data = card.to_dict()
    if key not in data:
        raise SecurityNetError(f"unknown model field {key!r} in the model query")
    return str(data[key]).lower() == value.lower()
