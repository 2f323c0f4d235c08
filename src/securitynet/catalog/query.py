"""Select model cards with one query string, shared by `securitynet fetch` and `securitynet evaluate --models`.

A query is one or more terms separated by commas or spaces:

- a card id (`pytorchcv/resnet20_cifar10`) or a glob over ids (`pytorchcv/resnet*`, `file/*`);
  several such terms are alternatives (their union);
- `key=value` filters on card fields, all of which must hold: `dataset=mnist`, `source=pytorchcv`,
  `purpose=security`, `architecture=resnet*`, `year=2020`, `venue=usenix*`, `weights.format=zip`.
  Values are case-insensitive globs; `key=none` selects cards where the field is unknown.

Cards come from the store (imported and self-trained models) and the built-in catalog; a store card
replaces a built-in card with the same id. With only filters, every card is a candidate.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import warnings
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import BaseModel

from securitynet.catalog.card import ModelCard
from securitynet.errors import QueryError, UnknownModelError

# Short names for nested or differently named card fields.
KEY_ALIASES: dict[str, str] = {
    "arch": "architecture",
    "type": "model_type",
    "category": "data_category",
    "classes": "num_classes",
    "venue": "paper.venue",
    "venue_type": "paper.venue_type",
    "year": "paper.year",
    "country": "paper.country",
    "authors": "paper.num_authors",
    "format": "weights.format",
}
_GLOB_CHARS = re.compile(r"[*?\[]")
_NONE_VALUES = {"none", "null", "missing"}


def builtin_cards() -> dict[str, ModelCard]:
    """The built-in catalog; a source whose module cannot be imported yet is skipped with a warning."""
    from securitynet.catalog.lookup import builtin_cards_by_id

    try:
        return builtin_cards_by_id()
    except ImportError:
        pass  # one source is missing (still being written, or an optional dependency): take the others
    from securitynet.catalog.sources import BUILTIN_SOURCES

    cards: dict[str, ModelCard] = {}
    for module_name in BUILTIN_SOURCES:
        try:
            cards.update((card.id, card) for card in importlib.import_module(module_name).iter_cards())
        except ImportError as exc:
            warnings.warn(f"built-in model source {module_name} is unavailable: {exc}", stacklevel=2)
    return cards


def all_cards(store: Any | None) -> dict[str, ModelCard]:
    cards = dict(builtin_cards())
    if store is not None:
        cards.update((card.id, card) for card in store.query_cards())
    return cards


def parse_query(query: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(id patterns, (field, value) filters) of a query string."""
    terms = [t for t in re.split(r"[,\s]+", query.strip()) if t]
    if not terms:
        raise QueryError("empty model query: give a card id, a glob over ids or key=value filters")
    patterns: list[str] = []
    filters: list[tuple[str, str]] = []
    for term in terms:
        if "=" in term:
            key, _, value = term.partition("=")
            key = key.strip().lower()
            if not key or not value:
                raise QueryError(f"model query term {term!r} must look like key=value")
            filters.append((KEY_ALIASES.get(key, key), value))
        else:
            patterns.append(term)
    return patterns, filters


def check_key(key: str) -> None:
    """Refuse a filter key that is not a (leaf) field of the ModelCard schema."""
    model: type[BaseModel] | None = ModelCard
    for part in key.split("."):
        if model is None or part not in model.model_fields:
            raise QueryError(f"model query filters on {key!r}, which is not a model card field")
        annotation = model.model_fields[part].annotation
        candidates = get_args(annotation) or (annotation,)
        model = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is not None:
        raise QueryError(f"model query filter {key!r} names a group of fields; name one field inside it")


def _field_values(card: ModelCard, key: str) -> list[Any]:
    """The values a filter on `key` compares against (several for lists and for `architecture`)."""
    if key == "architecture":
        arch = card.architecture
        return [arch, arch.split(":", 1)[-1] if arch else None, card.model_type, card.family]
    current: Any = card
    for part in key.split("."):
        current = getattr(current, part, None) if current is not None else None
    if isinstance(current, list | tuple | set):
        return list(current) or [None]
    return [current]


def _matches(card: ModelCard, key: str, pattern: str) -> bool:
    wants_none = pattern.lower() in _NONE_VALUES
    values = _field_values(card, key)
    if wants_none:
        return all(v is None for v in values)
    return any(v is not None and fnmatch.fnmatchcase(str(v).lower(), pattern.lower()) for v in values)


def filter_cards(cards: Iterable[ModelCard], query: str) -> list[ModelCard]:
    """The cards among `cards` that `query` selects, ordered by id."""
    patterns, filters = parse_query(query)
    pool = sorted(cards, key=lambda c: c.id)
    for key, _ in filters:
        check_key(key)  # an unknown field is an error, not "no match"
    chosen = pool
    if patterns:
        chosen = [c for c in pool if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    for key, value in filters:
        chosen = [c for c in chosen if _matches(c, key, value)]
    return chosen


def select_cards(query: str, store: Any | None = None) -> list[ModelCard]:
    """Cards from the store and the built-in catalog that `query` selects; raises when it selects none."""
    patterns, filters = parse_query(query)
    cards = all_cards(store)
    chosen = filter_cards(cards.values(), query)
    if not chosen:
        if patterns and not filters and len(patterns) == 1 and not _GLOB_CHARS.search(patterns[0]):
            raise UnknownModelError(f"no model card with id {patterns[0]!r} (neither in the store nor built in)")
        raise UnknownModelError(f"no model card matches {query!r} (searched {len(cards)} cards)")
    return chosen
