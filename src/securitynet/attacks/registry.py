"""Attack registry: names -> attack classes, filled by the plug-ins of the ``securitynet.attacks`` group.

Every way in ends in ``@register_attack`` and goes through `securitynet.plugins` (one mechanism for every
registry):
- built-in: the modules in ``BUILTIN_PLUGINS`` (declared the same in pyproject.toml); a new built-in attack
  module is added to both;
- installed packages: an entry point in the ``securitynet.attacks`` group naming a module whose import
  registers attacks, or an Attack class, e.g. in a plug-in's pyproject (see docs/plugins.md)::

      [project.entry-points."securitynet.attacks"]
      my_attacks = "my_package.attacks"

- ``SECURITYNET_ATTACK_MODULES``: importable module names (comma separated) loaded like entry points, for
  attacks that are not packaged (experiments, tests); executors pass it to workers.

A plug-in that fails to load does not take the others down: its error is kept, shown by
``securitynet attacks list`` and ``securitynet plugins``, and named when one of its attacks is asked for.
Two classes claiming one attack name is an error (`AttackNameConflictError`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from securitynet import plugins
from securitynet.attacks.base import Attack, AttackError
from securitynet.errors import PluginConflictError

ENTRY_POINT_GROUP = plugins.ATTACKS
PLUGIN_ENV = "SECURITYNET_ATTACK_MODULES"
# SecurityNet's own attack modules: the same as [project.entry-points."securitynet.attacks"] in pyproject.toml.
BUILTIN_PLUGINS: dict[str, str] = {
    "membership.correctness": "securitynet.attacks.membership.correctness",
    "membership.metric_attacks": "securitynet.attacks.membership.metric_attacks",
    "membership.learned": "securitynet.attacks.membership.learned",
    "membership.lira": "securitynet.attacks.membership.lira",
    "membership.rmia": "securitynet.attacks.membership.rmia",
    "membership.label_only": "securitynet.attacks.membership.label_only",
    "stealing.knockoff": "securitynet.attacks.stealing.knockoff",
    "backdoor.neural_cleanse": "securitynet.attacks.backdoor.neural_cleanse",
    "backdoor.abs": "securitynet.attacks.backdoor.abs",
    "backdoor.mntd": "securitynet.attacks.backdoor.mntd",
    "backdoor.strip": "securitynet.attacks.backdoor.strip",
    "annotation.accuracy": "securitynet.attacks.annotation.accuracy",
}

_REGISTRY: dict[str, type[Attack]] = {}
_LOAD_ERRORS: dict[str, str] = {}


class AttackNameConflictError(AttackError, PluginConflictError):
    """Two different attack classes claim one attack name."""


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: validate the attack and make it available by name."""
    cls.validate_class()
    existing = _REGISTRY.get(cls.name)
    if existing is not None and _qualname(existing) != _qualname(cls):
        raise AttackNameConflictError(
            f"attack name {cls.name!r} is registered twice: {_qualname(existing)} and {_qualname(cls)}"
        )
    _REGISTRY[cls.name] = cls
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def plugin_module_names() -> list[str]:
    return [name.strip() for name in os.environ.get(PLUGIN_ENV, "").split(",") if name.strip()]


def _register_plugin(plugin: plugins.Plugin, obj: Any) -> list[str]:
    """A module registered its attacks when imported; an Attack class is registered here."""
    if isinstance(obj, type) and issubclass(obj, Attack):
        return [register_attack(obj).name]
    if isinstance(obj, ModuleType):
        return [name for name, cls in _REGISTRY.items() if cls.__module__ == obj.__name__]
    raise plugins.not_a_plugin(plugin, obj, "an Attack class or a module")


def load_attacks(*, reload: bool = False) -> None:
    """Load the attack plug-ins: built-in, installed entry points, then SECURITYNET_ATTACK_MODULES (once)."""
    from_env = [plugins.Plugin(ENTRY_POINT_GROUP, name, name, PLUGIN_ENV) for name in plugin_module_names()]
    outcomes = plugins.load_once(ENTRY_POINT_GROUP, BUILTIN_PLUGINS, _register_plugin, extra=from_env, reload=reload)
    _LOAD_ERRORS.clear()
    _LOAD_ERRORS.update((o.plugin.value, o.error) for o in outcomes if o.error is not None)


def load_errors() -> dict[str, str]:
    load_attacks()
    return dict(_LOAD_ERRORS)


def list_attacks(pattern: str | None = None) -> list[type[Attack]]:
    """Registered attack classes sorted by name, optionally filtered by a glob (``mia.*``)."""
    load_attacks()
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [_REGISTRY[n] for n in names]


def headline_metrics_by_attack() -> dict[str, tuple[str, ...]]:
    """Attack name -> the headline metrics it declares (empty: it declares none, show every metric)."""
    return {cls.name: tuple(cls.headline_metrics) for cls in list_attacks()}


def get_attack(name: str) -> type[Attack]:
    load_attacks()
    if name in _REGISTRY:
        return _REGISTRY[name]
    hint = f"; modules that failed to import: {'; '.join(_LOAD_ERRORS.values())}" if _LOAD_ERRORS else ""
    raise AttackError(f"unknown attack {name!r}; known: {', '.join(sorted(_REGISTRY)) or 'none'}{hint}")


def match_attacks(patterns: str | Iterable[str]) -> list[type[Attack]]:
    """Attacks matching comma-separated names or globs, in first-match order, without duplicates.

    A pattern that matches nothing is an error rather than silently running less than asked.
    """
    load_attacks()
    if isinstance(patterns, str):
        patterns = [patterns]
    chosen: dict[str, type[Attack]] = {}
    for item in patterns:
        for pattern in (p.strip() for p in item.split(",")):
            if not pattern:
                continue
            matched = [cls for cls in list_attacks(pattern)]
            if not matched:
                get_attack(pattern)  # raises the "unknown attack" error with the known names
            for cls in matched:
                chosen.setdefault(cls.name, cls)
    if not chosen:
        raise AttackError("no attack pattern given")
    return list(chosen.values())
