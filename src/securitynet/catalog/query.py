"""The one card-selection language: `catalog list`, `fetch`, `evaluate --models`, `annotate`, `results`, `report`.

A query is one or more terms separated by commas or spaces:

- a card id (`pytorchcv/resnet20_cifar10`) or a glob over ids (`pytorchcv/resnet*`, `file/*`);
  several such terms are alternatives (their union);
- `key=value` filters on card fields, all of which must hold: `dataset=mnist`, `source=pytorchcv`,
  `purpose=security`, `architecture=resnet*`, `year=2020`, `venue=usenix*`, `weights.format=zip`.
  Values are case-insensitive globs; `key=none` selects cards where the field is unknown.

Cards come from the store (imported and self-trained models) and the built-in catalog; a store card
replaces a built-in card with the same id. With only filters, every card is a candidate. `catalog list`'s
options (`--dataset mnist`) are the same filters, and ids whose prefix names a built-in source build that
source only.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
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


class SkippedSourceWarning(UserWarning):
    """A built-in card source is not installed: its cards are left out of a selection."""


_GLOB_CHARS = re.compile(r"[*?\[]")
_NONE_VALUES = {"none", "null", "missing"}


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


@dataclass(frozen=True)
class Query:
    """A parsed selection: id patterns (any may match; none given: every card) and filters (all must hold)."""

    patterns: tuple[str, ...] = ()
    filters: tuple[tuple[str, str], ...] = ()
    text: str = field(default="", compare=False)  # as the user wrote it, for messages

    @classmethod
    def parse(cls, text: str) -> Query:
        patterns, filters = parse_query(text)
        return cls(tuple(patterns), tuple(filters), text)

    @classmethod
    def of(cls, query: str | Query) -> Query:
        query = cls.parse(query) if isinstance(query, str) else query
        for key, _ in query.filters:
            check_key(key)  # an unknown field is an error, not "no match"
        return query

    def narrowed(self, **fields: object) -> Query:
        """This query with `key=value` filters added for the fields given (not None), as `catalog list`'s options."""
        added = tuple((KEY_ALIASES.get(key, key), str(value)) for key, value in fields.items() if value is not None)
        return Query(self.patterns, self.filters + added, self.text)

    def matches(self, card: ModelCard) -> bool:
        if self.patterns and not any(fnmatch.fnmatchcase(card.id, p) for p in self.patterns):
            return False
        return all(_matches(card, key, value) for key, value in self.filters)

    def id_prefixes(self) -> list[str] | None:
        """The id prefixes every selected card has (built-in sources to build), or None when any card may match."""
        prefixes = [p.partition("/")[0] if "/" in p else "*" for p in self.patterns]
        if not prefixes or any(_GLOB_CHARS.search(prefix) for prefix in prefixes):
            return None
        return list(dict.fromkeys(prefixes))


def filter_cards(cards: Iterable[ModelCard], query: str | Query) -> list[ModelCard]:
    """The cards among `cards` that `query` selects, ordered by id."""
    query = Query.of(query)
    return sorted((card for card in cards if query.matches(card)), key=lambda c: c.id)


def select_cards(query: str | Query, store: Any | None = None, *, builtin: bool = True,
                 required: bool = True) -> list[ModelCard]:
    """Cards from the store and (unless not `builtin`) the built-in catalog that `query` selects, ordered by id;
    a store card replaces a built-in card with the same id. `required`: raise when it selects none."""
    from securitynet.catalog.builtin import load_builtin_catalog

    query = Query.of(query)
    cards: dict[str, ModelCard] = {}
    if builtin:
        catalog = load_builtin_catalog(query.id_prefixes())
        for module in catalog.skipped:
            warnings.warn(f"built-in source {module} is not installed; its cards are not listed", SkippedSourceWarning,
                          stacklevel=2)
        cards.update((card.id, card) for card in catalog.cards)
    if store is not None:
        cards.update((card.id, card) for card in store.query_cards())
    chosen = filter_cards(cards.values(), query)
    if not chosen and required:
        patterns = query.patterns
        if len(patterns) == 1 and not query.filters and not _GLOB_CHARS.search(patterns[0]):
            raise UnknownModelError(f"no model card with id {patterns[0]!r} (neither in the store nor built in)")
        raise UnknownModelError(f"no model card matches {query.text!r} (searched {len(cards)} cards)")
    return chosen
