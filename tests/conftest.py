"""Shared fixtures: an isolated home/cache per test session, the offline data folder, a fresh store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep every test away from the user's real database and cache.
_SESSION_HOME = Path(os.environ.get("PYTEST_SECURITYNET_HOME", "/tmp/securitynet-test-home"))


def pytest_configure(config: pytest.Config) -> None:
    from securitynet import config as sn_config

    shared = sn_config.shared_data_dir()  # resolve before we change any environment
    os.environ.setdefault("SECURITYNET_HOME", str(_SESSION_HOME / "home"))
    os.environ.setdefault("SECURITYNET_CACHE", str(_SESSION_HOME / "cache"))
    os.environ.pop("SECURITYNET_DB", None)
    if shared is not None:
        os.environ.setdefault("SECURITYNET_SHARED_DATA", str(shared))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline data folder `../shared/data`; tests that need it skip with a reason when absent."""
    from securitynet import config as sn_config

    path = sn_config.shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set SECURITYNET_SHARED_DATA to the offline data folder)")
    return path


@pytest.fixture
def store(tmp_path: Path):
    """A fresh SQLite store in a temporary folder."""
    from securitynet.store import Store

    return Store(f"sqlite:///{tmp_path / 'test.sqlite'}")
