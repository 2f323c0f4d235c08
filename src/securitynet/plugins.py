"""One plug-in mechanism: entry-point groups, read with `importlib.metadata`, for every registry.

A package extends SecurityNet by declaring entry points in its ``pyproject.toml`` (see docs/plugins.md)::

    [project.entry-points."securitynet.attacks"]
    my_attacks = "my_package.attacks"           # a module whose import registers attacks

Groups and what an entry point in each may name (a module is imported; its import registers things):

- ``securitynet.attacks``        a module using ``@register_attack``, or an ``Attack`` class;
- ``securitynet.datasets``       a module calling ``register_dataset``, a ``DatasetInfo``, or a list of them;
- ``securitynet.architectures``  a module using ``@register_architecture``, or a constructor (registered
                                 under the entry point's name);
- ``securitynet.card_sources``   a module or object with ``iter_cards()``, or a function returning cards.

SecurityNet's own plug-ins go through the same loader. They are declared in its ``pyproject.toml`` and,
beside each registry, in the in-tree list ``BUILTIN_PLUGINS`` (a test keeps the two equal): an editable
install keeps the entry points of the day it was installed, so the in-tree list is the one read for the
``securitynet`` distribution, and its installed entry points are ignored.

A plug-in that fails to load is reported in one line (a `PluginWarning` naming the plug-in, its distribution
and the error) and the others load. Two plug-ins claiming one name (an entry point name in a group, or a
registered name such as an attack's) is a `PluginConflictError`: which one would run is not for us to guess.

This module is on the ground floor: it imports nothing of securitynet except `errors`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from securitynet.errors import PluginConflictError, PluginError, first_line

ATTACKS = "securitynet.attacks"
DATASETS = "securitynet.datasets"
ARCHITECTURES = "securitynet.architectures"
CARD_SOURCES = "securitynet.card_sources"
GROUPS: dict[str, str] = {
    ATTACKS: "attack classes, by module or class",
    DATASETS: "datasets, by module, DatasetInfo or list of them",
    ARCHITECTURES: "architecture constructors, by module or callable",
    CARD_SOURCES: "model card sources, by module or object with iter_cards()",
}
DISTRIBUTION = "securitynet"


class PluginWarning(UserWarning):
    """A plug-in failed to load; the others are loaded."""


@dataclass(frozen=True)
class Plugin:
    """One entry point: ``name = value`` in ``group``, declared by ``distribution`` (``version``)."""

    group: str
    name: str
    value: str
    distribution: str
    version: str | None = None

    def load(self) -> Any:
        """The object the entry point names (``module`` or ``module:attribute``), importing its module."""
        return metadata.EntryPoint(name=self.name, value=self.value, group=self.group).load()

    def describe(self) -> str:
        origin = self.distribution if self.version is None else f"{self.distribution} {self.version}"
        return f"plug-in {self.name!r} ({self.value}, from {origin})"


@dataclass(frozen=True)
class Outcome:
    """What loading one plug-in gave: the names it registered, or the one-line error that stopped it."""

    plugin: Plugin
    provides: tuple[str, ...] = ()
    error: str | None = None
    exception: Exception | None = None


# group -> outcome of each plug-in at the latest load of that group (what `securitynet plugins` lists).
_OUTCOMES: dict[str, list[Outcome]] = {}
# group -> the outcomes of `load_once`, or the conflict that stopped it (raised again on every call).
_ONCE: dict[str, list[Outcome] | PluginConflictError] = {}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _own_version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return None


def builtin_plugins(group: str, entries: Mapping[str, str]) -> list[Plugin]:
    """SecurityNet's own plug-ins of a group, from its in-tree list (name -> ``module`` or ``module:attribute``)."""
    version = _own_version()
    return [Plugin(group, name, value, DISTRIBUTION, version) for name, value in entries.items()]


def installed_plugins(group: str) -> list[Plugin]:
    """Entry points of a group declared by installed distributions other than securitynet, by distribution."""
    found = []
    for entry in metadata.entry_points(group=group):
        dist = entry.dist
        name = dist.metadata["Name"] if dist is not None else "unknown distribution"
        if _canonical(name) == DISTRIBUTION:
            continue  # ours come from the in-tree list (installed metadata can be stale, see the module doc)
        found.append(Plugin(group, entry.name, entry.value, name, dist.version if dist is not None else None))
    return sorted(found, key=lambda p: (_canonical(p.distribution), p.name))


def discover(group: str, builtin: Mapping[str, str], extra: Iterable[Plugin] = ()) -> list[Plugin]:
    """The plug-ins of a group in load order: built-in, installed, then `extra`; a name claimed twice is an error."""
    chosen: dict[str, Plugin] = {}
    for plugin in [*builtin_plugins(group, builtin), *installed_plugins(group), *extra]:
        other = chosen.get(plugin.name)
        if other is not None and (other.value, other.distribution) != (plugin.value, plugin.distribution):
            raise PluginConflictError(
                f"two plug-ins claim the name {plugin.name!r} in group {group}: {other.describe()} and "
                f"{plugin.describe()}; uninstall one of them or rename its entry point"
            )
        chosen.setdefault(plugin.name, plugin)
    return list(chosen.values())


def load_group(
    group: str,
    builtin: Mapping[str, str],
    register: Callable[[Plugin, Any], Iterable[str] | None],
    *,
    names: Callable[[], Iterable[str]] | None = None,
    extra: Iterable[Plugin] = (),
) -> list[Outcome]:
    """Load every plug-in of a group and hand each loaded object to ``register(plugin, obj)``.

    ``register`` returns the names the object provided, or None: then what ``names()`` (the registry's
    names) gained while the plug-in loaded is what it provided. A failing plug-in is recorded and warned
    about in one line; a `PluginConflictError` (a name claimed twice) is raised, naming the plug-in.
    """
    outcomes: list[Outcome] = []
    _OUTCOMES[group] = outcomes
    for plugin in discover(group, builtin, extra):
        before = set(names()) if names is not None else set()
        try:
            provided = register(plugin, plugin.load())
        except PluginConflictError as exc:
            raise PluginConflictError(f"{plugin.describe()}: {first_line(exc)}") from exc
        except Exception as exc:  # a broken plug-in must not take the others down
            error = f"{plugin.describe()} failed to load: {type(exc).__name__}: {first_line(exc)}"
            outcomes.append(Outcome(plugin, error=error, exception=exc))
            warnings.warn(error, PluginWarning, stacklevel=2)
            continue
        if provided is None:
            provided = set(names()) - before if names is not None else ()
        outcomes.append(Outcome(plugin, provides=tuple(sorted(provided))))
    return outcomes


def load_once(
    group: str,
    builtin: Mapping[str, str],
    register: Callable[[Plugin, Any], Iterable[str] | None],
    *,
    names: Callable[[], Iterable[str]] | None = None,
    extra: Iterable[Plugin] = (),
    reload: bool = False,
) -> list[Outcome]:
    """`load_group` the first time (or again when `reload`); later calls give the same outcomes or conflict."""
    done = _ONCE.get(group)
    if done is not None and not reload:
        if isinstance(done, PluginConflictError):
            raise done
        return done
    _ONCE[group] = []  # a plug-in that asks its registry while it loads sees what is loaded so far
    try:
        _ONCE[group] = load_group(group, builtin, register, names=names, extra=extra)
    except PluginConflictError as exc:
        _ONCE[group] = exc
        raise
    return _ONCE[group]


def outcomes(group: str | None = None) -> list[Outcome]:
    """The outcome of each plug-in at the latest load of `group` (every group loaded so far when None)."""
    groups = [group] if group is not None else [g for g in GROUPS if g in _OUTCOMES]
    return [outcome for g in groups for outcome in _OUTCOMES.get(g, [])]


def not_a_plugin(plugin: Plugin, obj: Any, expected: str) -> PluginError:
    """The error for an entry point that names something its group cannot use."""
    return PluginError(f"{plugin.value} is {type(obj).__name__!r}, not {expected}")
