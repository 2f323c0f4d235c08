"""Fixtures for the data tests: an isolated cache, and registering throw-away dataset variants."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Decoded-image and npz caches go to a fresh folder for this test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SECURITYNET_CACHE", str(cache))
    return cache


@pytest.fixture
def variant(monkeypatch: pytest.MonkeyPatch):
    """register_variant(base, name, **changes): a copy of a registered dataset, removed after the test.

    Fixtures are small, so variants usually drop the official split sizes (split_sizes=None).
    """
    from securitynet.data import get_dataset, registry

    def register_variant(base: str, name: str, **changes):
        info = dataclasses.replace(get_dataset(base), name=name, **changes)
        monkeypatch.setitem(registry._REGISTRY, name, info)
        return info

    yield register_variant
    registry.clear_cache()
