"""Shared checks for CLI tables: rendered at a given width, are they readable?"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest
from rich.console import Console

from securitynet.cli import common

_TOKEN = re.compile(r"[^\s│┃|]+")


def readability_problems(text: str, width: int, ids: Iterable[str], headers: Iterable[str]) -> list[str]:
    """What makes ``text`` (a table printed at ``width``) unreadable: long lines, cut headers, ids broken mid-word.

    An id may be wrapped after ``/`` or ``.`` and a part of it shortened in the middle (``head…tail``);
    every part must still show either whole or as such a shortening.
    """
    problems = [f"line {n} is {len(line)} wide: {line!r}" for n, line in enumerate(text.splitlines())
                if len(line) > width]
    problems += [f"header {h!r} is not shown whole" for h in headers if h not in text]
    tokens = set(_TOKEN.findall(text))
    shortened = [t.rstrip("/.") for t in tokens if "…" in t]
    for model_id in ids:
        for part in filter(None, re.split(r"[/.]", model_id)):
            whole = any(part in t for t in tokens)
            short = any(part.startswith(s.split("…")[0].split("/")[-1].split(".")[-1])
                        and part.endswith(s.split("…")[1].split("/")[0].split(".")[0]) for s in shortened)
            if not (whole or short):
                problems.append(f"id {model_id!r}: part {part!r} is broken mid-word")
    return problems


@pytest.fixture
def console_width(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Make the CLI's console print at a fixed width (to the captured standard output)."""

    def set_width(width: int) -> None:
        monkeypatch.setattr(common, "console", Console(width=width, force_terminal=False, color_system=None))

    return set_width
