"""Zoo test fixtures: the shared public MNIST models as the only weight mirror, offline."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


@pytest.fixture
def mirror(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The shared model folder as the only mirror, an empty cache, and no network at all."""
    folder = shared_data / "models" / "mnist"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    monkeypatch.setenv("SECURITYNET_MIRROR", str(folder))
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")  # a mirror miss must fail at once, not try the URLs

    def refuse(*args, **kwargs):
        raise AssertionError("a model card tried to reach the network although its weights are mirrored")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return folder
