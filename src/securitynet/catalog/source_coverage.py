"""Per card source: how many cards there are, and for library sources how many models the installed library lists,
so `securitynet catalog coverage` shows that every pretrained timm classifier tag and torchvision classification
weight has its card."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class SourceRow:
    source: str
    builtin: int  # built-in cards of this source
    stored: int  # cards in the database not built in (added, imported, self-trained)
    listed: int | None  # models the installed library lists for this source (None: not a library source)
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _library_counts() -> dict[str, tuple[int, str]]:
    from securitynet.catalog.sources.timm_hub import tag_counts
    from securitynet.catalog.sources.torchvision_weights import weight_names

    timm = tag_counts()
    all_weights = _torchvision_weight_count()
    zoo = _robustbench_zoo_counts()
    return {
        "robustbench": (sum(zoo.values()), "robustbench model zoo: " + ", ".join(
            f"{dataset} {threat} {n}" for (dataset, threat), n in zoo.items())),
        "timm": (timm.classifiers, f"timm {timm.timm_version}: {timm.classifiers} image-classifier tags of "
                                   f"{timm.pretrained} pretrained ({timm.features} feature extractors and "
                                   f"{timm.embeddings} image-text embedding towers have no card)"),
        "torchvision": (len(weight_names()), f"{len(weight_names())} classification weights of {all_weights} "
                                             "(feature-only weights have no card)"),
    }


def _robustbench_zoo_counts() -> dict[tuple[str, str], int]:
    from securitynet.catalog.sources.robustbench import zoo_entries

    return {group: len(models) for group, models in zoo_entries().items()}


def _torchvision_weight_count() -> int:
    import torchvision
    from torchvision.models import get_model_weights, list_models

    return sum(len(get_model_weights(name)) for name in list_models(module=torchvision.models))


def source_rows(builtin_cards: list[Any], stored_ids_by_source: dict[str, int]) -> list[SourceRow]:
    """One row per source of the built-in cards and of the stored cards that are not built in."""
    builtin = Counter(card.source for card in builtin_cards)
    libraries = _library_counts()
    rows = []
    for source in sorted(set(builtin) | set(stored_ids_by_source)):
        listed, note = libraries.get(source, (None, ""))
        rows.append(SourceRow(source, builtin.get(source, 0), stored_ids_by_source.get(source, 0), listed, note))
    return rows


def stored_extra_by_source(store: Any, builtin_ids: set[str]) -> dict[str, int]:
    """Cards in the database that are not built in, counted by source."""
    return dict(Counter(card.source for card in store.query_cards() if card.id not in builtin_ids))
