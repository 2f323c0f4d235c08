"""`securitynet attacks list|show`: the registered attacks and their parameters."""

from __future__ import annotations

import json
from typing import Any, get_origin

import typer
from rich.table import Table

from securitynet.cli.common import clean_errors, console, err_console

attacks_app = typer.Typer(help="Registered attacks (built in, entry points, plug-in modules).", no_args_is_help=True)


def _type_name(annotation: Any) -> str:
    """int, str | None, Literal['a', 'b']: the spelling a user needs to write a value."""
    if get_origin(annotation) is None and isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _params(cls: Any) -> list[dict[str, Any]]:
    defaults = cls.default_params().model_dump(mode="json")
    return [
        {"name": name, "type": _type_name(info.annotation), "default": defaults[name], "help": info.description or ""}
        for name, info in cls.Params.model_fields.items()
    ]


@attacks_app.command("list")
@clean_errors
def list_command(
    pattern: str = typer.Argument(None, help="Glob on attack names, e.g. 'mia.*'."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List attacks with their version, access level and parameters (name: type = default)."""
    from securitynet.attacks import list_attacks, load_errors

    attacks = list_attacks(pattern)
    if as_json:
        console.print_json(json.dumps([
            {"name": c.name, "version": c.version, "access": c.access, "description": c.description,
             "params": _params(c)}
            for c in attacks
        ]))
        return
    table = Table(title="attacks")
    for column in ("name", "version", "access", "parameters", "description"):
        table.add_column(column, overflow="fold")
    for cls in attacks:
        params = "\n".join(f"{p['name']}: {p['type']} = {p['default']!r}" for p in _params(cls))
        table.add_row(cls.name, cls.version, cls.access, params or "-", cls.description)
    console.print(table)
    for module, error in load_errors().items():
        err_console.print(f"[yellow]could not load {module}:[/] {error}")


@attacks_app.command("show")
@clean_errors
def show_command(name: str = typer.Argument(..., help="Attack name.")) -> None:
    """One attack: what it does and every parameter with its type, default and meaning."""
    from securitynet.attacks import get_attack

    cls = get_attack(name)
    console.print(f"[bold]{cls.name}[/] version {cls.version}, access {cls.access}")
    if cls.description:
        console.print(cls.description)
    if cls.__doc__:
        console.print(cls.__doc__.strip())
    table = Table()
    for column in ("parameter", "type", "default", "meaning"):
        table.add_column(column, overflow="fold")
    for p in _params(cls):
        table.add_row(p["name"], p["type"], repr(p["default"]), p["help"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(attacks_app, name="attacks")
