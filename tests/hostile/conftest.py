"""Hostile inputs: the hypothesis profile, its stored example database, and the checks every test makes.

Profile `hostile` (the default here; `HYPOTHESIS_PROFILE=hostile-long` searches ten times longer) keeps
the whole folder within CI's budget. Failing examples are stored in `.hypothesis-examples/` beside
this file (committed), so a failure found anywhere replays first on the next run; in CI (`CI` set)
that database is read-only, so CI replays what is committed and writes nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

from securitynet.errors import SecurityNetError

EXAMPLES = Path(__file__).with_name(".hypothesis-examples")
_database = DirectoryBasedExampleDatabase(EXAMPLES)
DATABASE = ReadOnlyDatabase(_database) if os.environ.get("CI") else _database

settings.register_profile(
    "hostile", max_examples=40, deadline=None, database=DATABASE, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("hostile-long", parent=settings.get_profile("hostile"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hostile"))

T = TypeVar("T")


@dataclass(frozen=True)
class Sandbox:
    """One example's own folder: input files, a cache, and the file a pickle payload would create."""

    root: Path
    cache: Path
    marker: Path

    def cache_files(self) -> list[str]:
        return sorted(str(Path(d, f).relative_to(self.cache)) for d, _, files in os.walk(self.cache) for f in files)


@contextmanager
def sandbox() -> Iterator[Sandbox]:
    """A fresh folder and SECURITYNET_CACHE for one example (hypothesis runs many in one test call)."""
    before = os.environ.get("SECURITYNET_CACHE")
    with tempfile.TemporaryDirectory(prefix="sn-hostile-") as tmp:
        root = Path(tmp)
        box = Sandbox(root=root, cache=root / "cache", marker=root / "PAYLOAD-RAN")
        os.environ["SECURITYNET_CACHE"] = str(box.cache)
        try:
            yield box
        finally:
            if before is None:
                os.environ.pop("SECURITYNET_CACHE", None)
            else:
                os.environ["SECURITYNET_CACHE"] = before


def outcome(call: Callable[[], T], box: Sandbox) -> T | SecurityNetError:
    """What `call` returned, or the SecurityNetError it raised after checking that the failure is clean:
    one line, no traceback text, nothing left in the cache, no payload run. Any other exception fails."""
    try:
        result: Any = call()
    except SecurityNetError as exc:
        message = str(exc)
        assert message.strip(), f"{type(exc).__name__} without a message"
        assert "\n" not in message, f"{type(exc).__name__} message is not one line: {message!r}"
        assert "Traceback" not in message, message
        assert box.cache_files() == [], f"a failed load left files in the cache: {box.cache_files()}"
        result = exc
    assert not box.marker.exists(), "a pickle payload in the input was executed"
    return result
