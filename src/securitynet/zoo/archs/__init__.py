"""Architecture registry: names -> constructors, for architectures that no library ships.

An architecture id on a card is one of:
- a registered name (``lenet5_advertorch``), registered with ``@register_architecture``;
- ``pytorchcv:<model name>`` built by pytorchcv without weights;
- ``torchvision:<model name>`` built by torchvision without weights;
- ``timm:<model name or pretrained tag>`` built by timm without weights (``zoo.timm_models``);
- an importable ``package.module:callable``.

Registered names come from the plug-ins of the ``securitynet.architectures`` group (`securitynet.plugins`):
the built-in modules of this package in ``BUILTIN_PLUGINS`` (declared the same in pyproject.toml), and
installed packages' entry points naming a module that uses ``@register_architecture`` or a constructor,
registered under the entry point's name (see docs/plugins.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch.nn as nn

from securitynet import plugins
from securitynet.errors import CardError, PluginConflictError

Constructor = Callable[..., nn.Module]
ENTRY_POINT_GROUP = plugins.ARCHITECTURES
# This package's modules: the same as [project.entry-points."securitynet.architectures"] in pyproject.toml.
BUILTIN_PLUGINS: dict[str, str] = {
    "adversary_loss_landscape": "securitynet.zoo.archs.adversary_loss_landscape",
    "medmnist": "securitynet.zoo.archs.medmnist",
    "mnist": "securitynet.zoo.archs.mnist",
    "robustbench_zoo": "securitynet.zoo.archs.robustbench_zoo",
    "small": "securitynet.zoo.archs.small",
}
_REGISTRY: dict[str, Constructor] = {}


class ArchitectureConflictError(PluginConflictError, ValueError):
    """Two constructors claim one architecture name."""


def register_architecture(name: str) -> Callable[[Constructor], Constructor]:
    def decorator(fn: Constructor) -> Constructor:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not fn:
            raise ArchitectureConflictError(
                f"architecture {name!r} registered twice: {_qualname(existing)} and {_qualname(fn)}"
            )
        _REGISTRY[name] = fn
        return fn

    return decorator


def _qualname(fn: Constructor) -> str:
    return f"{fn.__module__}.{getattr(fn, '__qualname__', fn)}"


def _register_plugin(plugin: plugins.Plugin, obj: Any) -> list[str]:
    """A module registered its architectures when imported; a constructor is registered under the plug-in's name."""
    if isinstance(obj, ModuleType):
        return [name for name, fn in _REGISTRY.items() if fn.__module__ == obj.__name__]
    if callable(obj):
        register_architecture(plugin.name)(obj)
        return [plugin.name]
    raise plugins.not_a_plugin(plugin, obj, "a module or a constructor")


def _load_plugins() -> None:
    """Load the architecture plug-ins once (built-in and installed), so their names are registered."""
    plugins.load_once(ENTRY_POINT_GROUP, BUILTIN_PLUGINS, _register_plugin)


def list_architectures() -> list[str]:
    _load_plugins()
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
    _load_plugins()
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
