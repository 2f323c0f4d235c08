"""Shared CLI state and helpers: the store handle, the console, clean errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console

from securitynet.errors import SecurityNetError

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _State:
    db_url: str | None = None


state = _State()


def get_store():  # -> Store; imported lazily so `--help` stays fast
    from securitynet.store import Store

    return Store(state.db_url)


def clean_errors(fn: F) -> F:
    """Turn a SecurityNetError into one red line and exit code 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SecurityNetError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
