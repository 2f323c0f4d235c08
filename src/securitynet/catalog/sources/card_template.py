"""Card builders driven by data, after timm's `generate_default_cfgs`: what every card of a source shares is
written once, as the source's defaults, and each model gives only what differs.

    DEFAULTS = card_defaults(SOURCE, purpose="security", paper=PAPER, weights={"format": "checkpoint"})
    card = make_card(DEFAULTS, id=..., name=..., weights={"urls": [...]}, notes=[...], tags=[...])

A model's mappings are merged into the defaults' (at every depth: `weights`, `missing_reasons`, `extra`),
its `tags` follow the defaults' tags, its `notes` (a list of sentences) are joined with spaces, and the
result is validated as one `ModelCard`: every card gets its own copy of every default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from securitynet.catalog.card import ModelCard

# What nearly every built-in card says; a source overrides what differs.
COMMON: dict[str, Any] = {"output_kind": "logits", "training_split": "train"}


@cache
def recorded_data(name: str) -> dict[str, Any]:
    """A source's recorded facts (release, layouts), shipped as JSON in securitynet/catalog/cards/; read once."""
    return json.loads(resources.files("securitynet.catalog").joinpath("cards", name).read_text("utf-8"))


def card_defaults(source: str, **fields: Any) -> dict[str, Any]:
    """The fields every card of `source` shares (pydantic models are kept as plain data)."""
    return {**COMMON, "source": source, **{key: _plain(value) for key, value in fields.items()}}


def make_card(defaults: Mapping[str, Any], *, notes: Iterable[str | None] = (), tags: Iterable[str] = (),
              **fields: Any) -> ModelCard:
    """One model's card: its `fields` merged into the source's `defaults`; `notes` joined, `tags` appended."""
    data = deep_merge(dict(defaults), {key: _plain(value) for key, value in fields.items()})
    data["tags"] = [*defaults.get("tags", ()), *tags]
    sentences = [note for note in notes if note]
    if sentences:
        data["notes"] = " ".join(sentences)
    return ModelCard.model_validate(data)


def recorded_architecture(recorded: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The architecture fields of a card as a source's release data records them for a model (or a family)."""
    fields = {key: recorded[key] for key in ("architecture", "model_type", "family")}
    return {**fields, "arch_kwargs": dict(recorded.get("arch_kwargs") or {}), **overrides}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: a mapping in both is merged, at every depth; any other value replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value
