"""The built-in catalog as far as it is installed, and writing it into a store.

Card sources are the plug-ins of the ``securitynet.card_sources`` group (`securitynet.plugins`): SecurityNet's
own, listed in `catalog.sources.BUILTIN_SOURCES` (declared the same in pyproject.toml), then installed
packages' entry points naming a module or object with ``iter_cards()``, or a function returning cards (see
docs/plugins.md). A source whose module is not installed (yet) is skipped and named; any other source that
fails is warned about in one line and named in `BuiltinCatalog.failed`, and the other sources' cards are kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from securitynet import plugins
from securitynet.catalog import sources as _sources
from securitynet.catalog.card import ModelCard
from securitynet.errors import CardError, PluginConflictError

ENTRY_POINT_GROUP = plugins.CARD_SOURCES


class CardConflictError(CardError, PluginConflictError):
    """Two card sources give a card with the same id."""


@dataclass
class BuiltinCatalog:
    cards: list[ModelCard] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # module -> number of cards
    skipped: list[str] = field(default_factory=list)  # source modules that are not installed
    failed: dict[str, str] = field(default_factory=dict)  # source -> why it gave no cards (one line)
    origins: dict[str, str] = field(default_factory=dict, repr=False)  # card id -> its source

    def add(self, origin: str, cards: Iterable[ModelCard]) -> list[str]:
        """Take every card of one source, or none of them: a card id another source gave too is an error."""
        taken: dict[str, ModelCard] = {}
        for card in cards:
            other = self.origins.get(card.id) or (origin if card.id in taken else None)
            if other is not None:
                raise CardConflictError(f"model card {card.id} comes from two built-in sources: {other} and {origin}")
            taken[card.id] = card
        self.cards.extend(taken.values())
        self.origins.update(dict.fromkeys(taken, origin))
        self.sources[origin] = len(taken)
        return list(taken)


def builtin_source_plugins() -> dict[str, str]:
    """SecurityNet's own card sources as plug-ins (name -> module): `catalog.sources.BUILTIN_SOURCES`."""
    return {module.rsplit(".", 1)[-1]: module for module in _sources.BUILTIN_SOURCES}


def _cards_of(plugin: plugins.Plugin, obj: Any) -> Iterable[ModelCard]:
    if hasattr(obj, "iter_cards"):
        return obj.iter_cards()
    if callable(obj):
        return obj()
    raise plugins.not_a_plugin(plugin, obj, "a module or object with iter_cards(), or a function returning cards")


def load_builtin_catalog(sources: tuple[str, ...] | None = None) -> BuiltinCatalog:
    """Cards of every card-source plug-in (or only of the `sources` modules, where a broken one raises).

    Card ids are unique across sources (`CardConflictError`).
    """
    catalog = BuiltinCatalog()
    if sources is not None:
        for module_name in sources:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                catalog.skipped.append(module_name)
                continue
            catalog.add(module_name, module.iter_cards())
        return catalog
    outcomes = plugins.load_group(ENTRY_POINT_GROUP, builtin_source_plugins(),
                                  lambda plugin, obj: catalog.add(plugin.value, _cards_of(plugin, obj)))
    for outcome in outcomes:
        exc, value = outcome.exception, outcome.plugin.value
        if isinstance(exc, ModuleNotFoundError) and exc.name == value:
            catalog.skipped.append(value)
        elif outcome.error is not None:
            catalog.failed[value] = outcome.error
    return catalog


def register_builtin_cards(store: Any, sources: tuple[str, ...] | None = None) -> int:
    """Write (insert or replace) every installed built-in card into `store`, in one transaction."""
    return store.upsert_cards(load_builtin_catalog(sources).cards)
