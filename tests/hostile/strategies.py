"""Generators of hostile files: random bytes, truncations and bit flips of valid files, and pickles whose
unpickling would create a marker file (by exec, os.system, open or Path.touch)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from hypothesis import strategies as st


class Payload:
    """Unpickling this runs `how` on the marker path: the thing a loader must never do."""

    def __init__(self, marker: Path, how: str) -> None:
        self.marker, self.how = str(marker), how

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self.how == "exec":
            return exec, (f"open({self.marker!r}, 'w').close()",)
        if self.how == "system":
            return os.system, (f"touch '{self.marker}'",)
        if self.how == "open":
            return open, (self.marker, "w")
        return Path.touch, (Path(self.marker),)


PAYLOAD_KINDS = st.sampled_from(["exec", "system", "open", "touch"])
PROTOCOLS = st.integers(min_value=0, max_value=pickle.HIGHEST_PROTOCOL)


def truncated(data: bytes) -> st.SearchStrategy[bytes]:
    """A strict prefix of `data` (what an interrupted download leaves)."""
    return st.integers(min_value=0, max_value=max(len(data) - 1, 0)).map(lambda n: data[:n])


def corrupted(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` with up to 8 bytes overwritten at random places."""
    if not data:
        return st.just(data)
    edits = st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=8)

    def apply(changes: list[tuple[int, int]]) -> bytes:
        out = bytearray(data)
        for pos, value in changes:
            out[pos] = value
        return bytes(out)

    return edits.map(apply)


def damaged(data: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation or a corruption of a valid file."""
    return st.one_of(st.binary(max_size=4096), truncated(data), corrupted(data))
