"""Every store test that takes `store` runs on SQLite, and on PostgreSQL when a test server is set."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    from securitynet.store import Store

    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'test.sqlite'}")
        return
    store = Store(request.getfixturevalue("postgres_url"))
    yield store
    store.engine.dispose()  # the database is dropped next; no connection may stay open
