"""Text fitted to a width: one rule for the CLI's tables and the progress bars."""

from __future__ import annotations

ELLIPSIS = "…"


def shorten_middle(text: str, width: int) -> str:
    """``text`` with its middle replaced by an ellipsis so that it is at most ``width`` long (both ends of a
    model id say most)."""
    if len(text) <= width:
        return text
    keep = max(width - 1, 1)
    head = (keep + 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head):]
