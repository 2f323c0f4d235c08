"""Sources of public models. Each source module exposes ``iter_cards() -> Iterator[ModelCard]``.

Built-in sources are listed here by module name; their cards are the built-in catalog.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from securitynet.catalog.card import ModelCard

BUILTIN_SOURCES: tuple[str, ...] = (
    "securitynet.catalog.sources.yaml_cards",
    "securitynet.catalog.sources.pytorchcv",
    "securitynet.catalog.sources.medmnist",
    "securitynet.catalog.sources.adversary_loss_landscape",
    "securitynet.catalog.sources.robust_imagenet",
    "securitynet.catalog.sources.timm_hub",
    "securitynet.catalog.sources.torchvision_weights",
    "securitynet.catalog.sources.robustbench",
)


def iter_builtin_cards(sources: tuple[str, ...] = BUILTIN_SOURCES) -> Iterator[ModelCard]:
    for module_name in sources:
        yield from importlib.import_module(module_name).iter_cards()
