"""The built-in catalog and the one way to find a card by id.

Card sources are the plug-ins of the ``securitynet.card_sources`` group (`securitynet.plugins`): SecurityNet's
own, listed in `catalog.sources.BUILTIN_SOURCES` (declared the same in pyproject.toml), then installed
packages' entry points naming a module or object with ``iter_cards()``, or a function returning cards (see
docs/plugins.md). A source whose module is not installed (yet) is skipped and named; any other source that
fails is warned about in one line and named in `BuiltinCatalog.failed`, and the other sources' cards are kept.

Every card of a built-in source module starts with the module's ``ID_PREFIX`` (``pytorchcv/``), so a lookup or
a selection that names its prefixes builds only those sources, each once per process: finding
`pytorchcv/resnet20_cifar10` builds the pytorchcv cards, not timm's 1,294. A source module may also offer
``card_for_id(name)``, the card ``<prefix><name>`` made on its own (None: no such model); the modules in
`catalog.sources.LOOKUP_SOURCES` (the Hugging Face Hub) have only that and list nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from securitynet import plugins
from securitynet.catalog import sources as _sources
from securitynet.catalog.card import ModelCard
from securitynet.errors import CardError, PluginConflictError, UnknownModelError

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


def load_builtin_catalog(prefixes: Iterable[str] | None = None) -> BuiltinCatalog:
    """Cards of every card-source plug-in; with `prefixes` (``"pytorchcv"``), only of the built-in sources whose
    cards have those id prefixes (plus every installed plug-in's, whose prefixes are not known beforehand).

    Card ids are unique across sources (`CardConflictError`).
    """
    if prefixes is None or plugins.installed_plugins(ENTRY_POINT_GROUP):
        return _load_every_source()
    by_prefix, not_installed = _installed_modules(_sources.BUILTIN_SOURCES)
    catalog = BuiltinCatalog(skipped=list(not_installed))
    for module_name in dict.fromkeys(by_prefix[p] for p in prefixes if p in by_prefix):
        catalog.add(module_name, source_cards(module_name))
    return catalog


def builtin_card(card_id: str) -> ModelCard | None:
    """The card with this id from the card sources, or None; builds at most the one source its prefix names."""
    prefix, _, name = card_id.partition("/")
    module_name = _installed_modules(_sources.BUILTIN_SOURCES + _sources.LOOKUP_SOURCES)[0].get(prefix)
    if module_name is None:
        if not plugins.installed_plugins(ENTRY_POINT_GROUP):
            return None
        return next((card for card in _load_every_source().cards if card.id == card_id), None)
    module = importlib.import_module(module_name)
    if hasattr(module, "card_for_id"):
        return module.card_for_id(name)
    return next((card for card in source_cards(module_name) if card.id == card_id), None)


def find_card(card_id: str, store: Any | None = None) -> ModelCard:
    """The card with this id: the store's (imported and self-trained cards) first, then the card sources'."""
    if store is not None:
        try:
            return store.get_card(card_id)
        except UnknownModelError:
            pass
    card = builtin_card(card_id)
    if card is None:
        raise UnknownModelError(f"no model card with id {card_id!r} (neither in the store nor built in)")
    return card


def register_builtin_cards(store: Any, prefixes: Iterable[str] | None = None) -> int:
    """Write (insert or replace) every installed built-in card into `store`, in one transaction."""
    return store.upsert_cards(load_builtin_catalog(prefixes).cards)


def _load_every_source() -> BuiltinCatalog:
    catalog = BuiltinCatalog()
    outcomes = plugins.load_group(ENTRY_POINT_GROUP, builtin_source_plugins(),
                                  lambda plugin, obj: catalog.add(plugin.value, _cards_of(plugin, obj)))
    for outcome in outcomes:
        exc, value = outcome.exception, outcome.plugin.value
        if isinstance(exc, ModuleNotFoundError) and exc.name == value:
            catalog.skipped.append(value)
        elif outcome.error is not None:
            catalog.failed[value] = outcome.error
    return catalog


def _cards_of(plugin: plugins.Plugin, obj: Any) -> Iterable[ModelCard]:
    if isinstance(obj, ModuleType) and obj.__name__ in _sources.BUILTIN_SOURCES:
        return source_cards(obj.__name__)  # built once per process
    if hasattr(obj, "iter_cards"):
        return obj.iter_cards()
    if callable(obj):
        return obj()
    raise plugins.not_a_plugin(plugin, obj, "a module or object with iter_cards(), or a function returning cards")


@cache
def _installed_modules(modules: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    """(id prefix without "/" -> module name, of the installed modules; the names of those not installed)."""
    by_prefix: dict[str, str] = {}
    not_installed: list[str] = []
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            not_installed.append(module_name)
            continue
        by_prefix[module.ID_PREFIX.removesuffix("/")] = module_name
    return by_prefix, tuple(not_installed)


@cache
def source_cards(module_name: str) -> tuple[ModelCard, ...]:
    """The cards of one built-in source module, in its order, built once per process (the one cache of the built-in
    catalog: sources build afresh on every `iter_cards()`); each id starts with the module's ID_PREFIX."""
    module = importlib.import_module(module_name)
    cards = tuple(module.iter_cards())
    for card in cards:
        if not card.id.startswith(module.ID_PREFIX):
            raise CardError(f"model card {card.id} from {module_name} lacks its source's id prefix {module.ID_PREFIX}")
    return cards
