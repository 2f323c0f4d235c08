"""Attack registry: names -> attack classes, from the built-in package, entry points and plug-in modules.

Three ways in, all ending in ``@register_attack``:
- built-in: every module under ``securitynet.attacks`` is imported once (adding a file is enough);
- installed packages: an entry point in the ``securitynet.attacks`` group naming an Attack class or a
  module whose import registers attacks, e.g. in a plug-in's pyproject::

      [project.entry-points."securitynet.attacks"]
      my_attacks = "my_package.attacks"

- ``SECURITYNET_ATTACK_MODULES``: importable module names (comma separated) imported like entry
  points, for attacks that are not packaged (experiments, tests); executors pass it to workers.

A module that fails to import does not take the others down: its error is kept, shown by
``securitynet attacks list``, and named when one of its attacks is asked for.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import pkgutil
import warnings
from collections.abc import Iterable
from importlib.metadata import entry_points

from securitynet.attacks.base import Attack, AttackError

ENTRY_POINT_GROUP = "securitynet.attacks"
PLUGIN_ENV = "SECURITYNET_ATTACK_MODULES"
_NOT_ATTACK_MODULES = {"securitynet.attacks.base", "securitynet.attacks.registry"}

_REGISTRY: dict[str, type[Attack]] = {}
_LOAD_ERRORS: dict[str, str] = {}
_loaded = False


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: validate the attack and make it available by name."""
    cls.validate_class()
    existing = _REGISTRY.get(cls.name)
    if existing is not None and _qualname(existing) != _qualname(cls):
        raise AttackError(
            f"attack name {cls.name!r} is registered twice: {_qualname(existing)} and {_qualname(cls)}"
        )
    _REGISTRY[cls.name] = cls
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import(module_name: str, origin: str) -> None:
    try:
        importlib.import_module(module_name)
    except Exception as exc:  # a broken plug-in must not hide every other attack
        _LOAD_ERRORS[module_name] = f"{origin}: {type(exc).__name__}: {exc}"
        warnings.warn(f"attack module {module_name} ({origin}) failed to import: {exc}", stacklevel=3)


def _builtin_module_names() -> list[str]:
    import securitynet.attacks as package

    names: list[str] = []

    def on_error(name: str) -> None:
        _LOAD_ERRORS[name] = "built-in package failed to import"

    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.", onerror=on_error):
        if info.name not in _NOT_ATTACK_MODULES:
            names.append(info.name)
    return sorted(names)


def plugin_module_names() -> list[str]:
    return [name.strip() for name in os.environ.get(PLUGIN_ENV, "").split(",") if name.strip()]


def load_attacks(*, reload: bool = False) -> None:
    """Import built-in attack modules, entry points and plug-in modules (once, unless reload)."""
    global _loaded
    if _loaded and not reload:
        return
    _loaded = True
    for name in _builtin_module_names():
        _import(name, "built-in")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            _LOAD_ERRORS[ep.value] = f"entry point {ep.name}: {type(exc).__name__}: {exc}"
            warnings.warn(f"attack entry point {ep.name} = {ep.value} failed to load: {exc}", stacklevel=2)
            continue
        if isinstance(obj, type) and issubclass(obj, Attack):
            register_attack(obj)
    for name in plugin_module_names():
        _import(name, PLUGIN_ENV)


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
