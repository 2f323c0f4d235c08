"""Architecture registry: names -> constructors, for architectures that no library ships.

An architecture id on a card is one of:
- a registered name (``lenet5_advertorch``), registered with ``@register_architecture``;
- ``pytorchcv:<model name>`` built by pytorchcv without weights;
- ``torchvision:<model name>`` built by torchvision without weights;
- ``timm:<model name or pretrained tag>`` built by timm without weights (``zoo.timm_models``);
- an importable ``package.module:callable``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import torch.nn as nn

from securitynet.errors import CardError

Constructor = Callable[..., nn.Module]
_REGISTRY: dict[str, Constructor] = {}
_loaded = False


def register_architecture(name: str) -> Callable[[Constructor], Constructor]:
    def decorator(fn: Constructor) -> Constructor:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return decorator


def _load_builtin() -> None:
    """Import every module of this package once, so their decorators run."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        importlib.import_module(info.name)
    _loaded = True


def list_architectures() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def build_architecture(arch: str, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
    """Build an untrained module for an architecture id; num_classes is passed where it applies."""
    if arch.startswith("pytorchcv:"):
        from pytorchcv.model_provider import get_model

        name = arch.split(":", 1)[1]
        try:
            return get_model(name, pretrained=False, **kwargs)
        except ValueError as exc:
            raise CardError(f"pytorchcv has no model {name!r}: {exc}") from None
    if arch.startswith("torchvision:"):
        import torchvision

        name = arch.split(":", 1)[1]
        if num_classes is not None:
            kwargs.setdefault("num_classes", num_classes)
        try:
            return torchvision.models.get_model(name, weights=None, **kwargs)
        except ValueError as exc:
            raise CardError(f"torchvision has no model {name!r}: {exc}") from None
    if arch.startswith("timm:"):
        from securitynet.zoo.timm_models import build_timm_model

        return build_timm_model(arch.split(":", 1)[1], num_classes, **kwargs)
    if ":" in arch:
        module_name, _, attr = arch.partition(":")
        try:
            constructor = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise CardError(f"architecture {arch!r} cannot be imported: {exc}") from None
        return constructor(**kwargs) if num_classes is None else _call(constructor, num_classes, kwargs)
    _load_builtin()
    if arch not in _REGISTRY:
        raise CardError(f"unknown architecture {arch!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _call(_REGISTRY[arch], num_classes, kwargs)


def _call(constructor: Constructor, num_classes: int | None, kwargs: dict[str, Any]) -> nn.Module:
    if num_classes is not None and "num_classes" not in kwargs:
        try:
            return constructor(num_classes=num_classes, **kwargs)
        except TypeError:
            pass  # the architecture fixes its own number of classes
    return constructor(**kwargs)
