"""Shared CLI state and helpers: the store handle, the console, clean errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from securitynet.errors import SecurityNetError

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _State:
    db_url: str | None = None
    debug: bool = False  # --debug or SECURITYNET_DEBUG=1: errors end in their traceback


state = _State()


def get_store(*, read_only: bool = False):  # -> Store; imported lazily so `--help` stays fast
    """The store of --db; ``read_only`` for commands that only read (they then work on a read-only file)."""
    from securitynet.store import Store

    return Store(state.db_url, read_only=read_only)


def one_line_error(exc: BaseException) -> SecurityNetError | None:
    """The user-facing error an exception stands for: itself, a database error translated, or None (a bug)."""
    if isinstance(exc, SecurityNetError):
        return exc
    if type(exc).__module__.startswith("sqlalchemy"):
        from securitynet.config import database_url
        from securitynet.store.opening import store_error

        try:
            url = database_url(state.db_url)
        except OSError:
            url = state.db_url or "(default database)"
        return store_error(exc, url)
    return None


def print_error(exc: SecurityNetError) -> None:
    """One line on stderr, never wrapped or interpreted as markup, whatever the terminal width."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    err_console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)


def clean_errors(fn: F) -> F:
    """Turn a SecurityNetError (or a database error) into one red line and exit code 1 instead of a traceback;
    with --debug the traceback is shown instead."""
    if getattr(fn, "__clean_errors__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = one_line_error(exc)
            if error is None or state.debug:
                raise
            print_error(error)
            raise typer.Exit(1) from None

    wrapper.__clean_errors__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def clean_errors_everywhere(app: typer.Typer) -> None:
    """Give every command of ``app`` and of its sub-apps the one-line error handling of `clean_errors`."""
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = clean_errors(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            clean_errors_everywhere(group.typer_instance)
