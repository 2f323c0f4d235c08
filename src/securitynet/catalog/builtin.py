"""The built-in catalog as far as it is installed, and writing it into a store.

Built-in sources are listed in `catalog.sources.BUILTIN_SOURCES`. A source module that is not
installed (yet) is skipped and named, so that the catalog works while sources are being added;
any other import error inside a source is a real bug and propagates.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from securitynet.catalog import sources as _sources
from securitynet.catalog.card import ModelCard
from securitynet.errors import CardError


@dataclass
class BuiltinCatalog:
    cards: list[ModelCard] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # module -> number of cards
    skipped: list[str] = field(default_factory=list)  # source modules that are not installed


def load_builtin_catalog(sources: tuple[str, ...] | None = None) -> BuiltinCatalog:
    """Cards of every installed built-in source (default: BUILTIN_SOURCES); ids unique across sources."""
    if sources is None:
        sources = _sources.BUILTIN_SOURCES
    catalog = BuiltinCatalog()
    seen: dict[str, str] = {}
    for module_name in sources:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            catalog.skipped.append(module_name)
            continue
        count = 0
        for card in module.iter_cards():
            if card.id in seen:
                raise CardError(f"model card {card.id} comes from two built-in sources: {seen[card.id]} and "
                                f"{module_name}")
            seen[card.id] = module_name
            catalog.cards.append(card)
            count += 1
        catalog.sources[module_name] = count
    return catalog


def register_builtin_cards(store: Any, sources: tuple[str, ...] | None = None) -> int:
    """Write (insert or replace) every installed built-in card into `store`, in one transaction."""
    return store.upsert_cards(load_builtin_catalog(sources).cards)
