"""`securitynet plugins`: every plug-in of every group, what it registered, and from which distribution.

Loading a group is what reveals a broken plug-in, so the command loads each group it lists (the card sources
read every card). Outside this command a plug-in that fails to load is one ``warning:`` line on stderr.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import typer

from securitynet import plugins
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit
from securitynet.errors import PluginConflictError


def plugin_columns(*, with_errors: bool) -> list[Column]:
    """The table shows the group's short name, and the error column only when a plug-in failed."""
    return [
        Column("kind", "group"), Column("name", kind="id"), Column("object", kind="id"),
        Column("distribution", "from"), Column("items", kind="int"), Column("error", show=with_errors),
        Column("group", "entry point group", show=False), Column("version", show=False),
        Column("provides", show=False),
    ]


def _load_attacks() -> None:
    from securitynet.attacks.registry import load_attacks

    load_attacks()


def _load_datasets() -> None:
    from securitynet.data import load_dataset_plugins

    load_dataset_plugins()


def _load_architectures() -> None:
    from securitynet.zoo.archs import list_architectures

    list_architectures()


def _load_card_sources() -> None:
    from securitynet.catalog.builtin import load_builtin_catalog

    load_builtin_catalog()


# The registry that loads each group (short names: what --group takes).
LOADERS: dict[str, tuple[str, Callable[[], None]]] = {
    "attacks": (plugins.ATTACKS, _load_attacks),
    "datasets": (plugins.DATASETS, _load_datasets),
    "architectures": (plugins.ARCHITECTURES, _load_architectures),
    "card_sources": (plugins.CARD_SOURCES, _load_card_sources),
}


def _row(short_name: str, outcome: plugins.Outcome) -> dict[str, Any]:
    plugin = outcome.plugin
    origin = plugin.distribution if plugin.version is None else f"{plugin.distribution} {plugin.version}"
    return {"kind": short_name, "group": plugin.group, "name": plugin.name, "object": plugin.value,
            "distribution": origin, "version": plugin.version,
            "items": None if outcome.error else len(outcome.provides), "error": outcome.error,
            "provides": list(outcome.provides)}


def group_rows(short_name: str) -> list[dict[str, Any]]:
    """Load one group through its registry; a row per plug-in, or one row for the conflict that stopped it."""
    group, load = LOADERS[short_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plugins.PluginWarning)  # the table shows them
        try:
            load()
        except PluginConflictError as exc:
            return [{"kind": short_name, "group": group, "error": str(exc)}]
    return [_row(short_name, outcome) for outcome in plugins.outcomes(group)]


def plugins_command(
    group: list[str] = typer.Option(
        None, "--group", "-g", help=f"Only these groups: {', '.join(LOADERS)} (default: all)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """List the plug-ins of every group (attacks, datasets, architectures, card sources) and where they come from.

    A row per entry point: group, name, object, the distribution that declares it, what it registered or its error.
    Exits 1 when a plug-in failed to load or two plug-ins claim one name (docs/plugins.md).
    """
    unknown = [g for g in group or [] if g not in LOADERS]
    if unknown:
        raise typer.BadParameter(f"unknown group {', '.join(unknown)}; groups: {', '.join(LOADERS)}",
                                 param_hint="--group")
    rows = [row for short_name in (group or LOADERS) for row in group_rows(short_name)]
    failed = sum(1 for row in rows if row["error"])
    emit(rows, plugin_columns(with_errors=failed > 0), fmt.value, title=f"{len(rows)} plug-in(s), {failed} failed")
    if failed:
        raise typer.Exit(1)


def _one_line_plugin_warnings() -> None:
    """Show a PluginWarning as one ``warning:`` line on stderr (not the file, line and source of the warning)."""
    previous = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, plugins.PluginWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            previous(message, category, *args, **kwargs)

    warnings.showwarning = show


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins_command)
    _one_line_plugin_warnings()
