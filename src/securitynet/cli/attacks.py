"""`securitynet attacks list|show`: the registered attacks and their parameters."""

from __future__ import annotations

from typing import Any, get_origin

import typer

from securitynet.cli.common import clean_errors, console
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit

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


ATTACK_COLUMNS = [
    Column("name", kind="id"), Column("version"), Column("access"), Column("headline", "headline metrics"),
    Column("description", show=False), Column("params", show=False),
]


@attacks_app.command("list")
@clean_errors
def list_command(
    pattern: str = typer.Argument(None, help="Glob on attack names, e.g. 'mia.*'."),
    fmt: OutputFormat = FormatOption,
    as_json: bool = typer.Option(False, "--json", hidden=True, help="The same as --format json."),
) -> None:
    """List attacks: version, access level and headline metrics (`attacks show NAME` or --format json: parameters)."""
    from securitynet.attacks import list_attacks

    rows = [{"name": c.name, "version": c.version, "access": c.access, "headline": list(c.headline_metrics),
             "description": c.description, "params": _params(c)} for c in list_attacks(pattern)]
    # A plug-in that failed to load was one warning line when the attacks were loaded (`securitynet plugins`).
    emit(rows, ATTACK_COLUMNS, "json" if as_json else fmt.value, title=f"{len(rows)} attack(s)")


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
    console.print(f"headline metrics: {', '.join(cls.headline_metrics) or 'none declared (every metric is shown)'}")
    emit([{**p, "default": repr(p["default"])} for p in _params(cls)],
         [Column("name", "parameter"), Column("type"), Column("default"), Column("help", "meaning")],
         "table")


def register(app: typer.Typer) -> None:
    app.add_typer(attacks_app, name="attacks")
