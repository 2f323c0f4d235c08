"""`securitynet fetch QUERY` through the real Typer app: per-model outcome, reasons, exit code."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from securitynet.catalog.card import ModelCard, WeightsSpec
from securitynet.cli import app
from securitynet.store import Store
from securitynet.zoo import download as download_module


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path):
    """A static file server on 127.0.0.1 over tmp_path/served (404 for anything absent)."""
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    download_module.forget_unreachable_hosts()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def setup(tmp_path: Path, served, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SECURITYNET_MIRROR", raising=False)
    monkeypatch.delenv("SECURITYNET_OFFLINE", raising=False)
    root, base = served
    buffer = io.BytesIO()
    torch.save({"fc.weight": torch.arange(6.0).reshape(2, 3)}, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "good.pt").write_bytes(data)
    (mirror / "tampered.pt").write_bytes(data + b"x")
    (root / "remote.pt").write_bytes(data)

    def card(card_id: str, **weights: object) -> ModelCard:
        return ModelCard(id=card_id, name=card_id, source="test", dataset="toyset", weights=WeightsSpec(**weights))

    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    Store(db).upsert_cards(
        [
            card("local/good", filename="good.pt", sha256=digest),
            card("local/tampered", filename="tampered.pt", sha256=digest),
            card("local/nourl", filename="missing.pt", sha256=digest),
            card("local/gone", urls=[f"{base}/gone.pt"], sha256=digest),
            card("local/remote", urls=[f"{base}/remote.pt"], sha256=digest),
        ]
    )
    return db, mirror, digest


def invoke(db: str, *args: str):  # noqa: ANN201
    return CliRunner().invoke(app, ["--db", db, "fetch", *args])


def test_fetch_reports_every_model_and_fails_after_trying_all(setup) -> None:
    db, mirror, digest = setup
    result = invoke(db, "local/*", "--mirror", str(mirror), "--json")
    assert result.exit_code == 1, result.output
    records = {r["model"]: r for r in json.loads(result.stdout)}
    assert sorted(records) == ["local/gone", "local/good", "local/nourl", "local/remote", "local/tampered"]

    good = records["local/good"]
    assert good["ok"] and good["origin"] == "mirror" and good["sha256"] == digest
    assert good["path"] == str(mirror / "good.pt") and good["verified_with"] == ["sha256"]
    remote = records["local/remote"]
    assert remote["ok"] and remote["origin"] == "download" and Path(remote["path"]).is_file()

    assert not records["local/gone"]["ok"] and "HTTP 404" in records["local/gone"]["reason"]
    assert "checksum mismatch" in records["local/tampered"]["reason"] and digest in records["local/tampered"]["reason"]
    assert "no weight URL" in records["local/nourl"]["reason"]


def test_fetch_table_and_success_exit_code(setup) -> None:
    db, mirror, _ = setup
    result = invoke(db, "local/good,local/remote", "--mirror", str(mirror))
    assert result.exit_code == 0, result.output
    assert "local/good" in result.stdout and "2 of 2 fetched, 0 failed" in result.stdout

    failed = invoke(db, "local/gone")
    assert failed.exit_code == 1 and "0 of 1 fetched, 1 failed" in failed.stdout


def test_fetch_offline_uses_only_mirror_and_cache(setup) -> None:
    db, mirror, _ = setup
    assert invoke(db, "local/remote").exit_code == 0  # now cached
    result = invoke(db, "local/good,local/remote,local/gone", "--offline", "--mirror", str(mirror), "--json")
    records = {r["model"]: r for r in json.loads(result.stdout)}
    assert records["local/good"]["origin"] == "mirror" and records["local/remote"]["origin"] == "cache"
    assert "offline" in records["local/gone"]["reason"] and result.exit_code == 1


def test_fetch_bad_query_is_one_clear_error(setup) -> None:
    db, _, _ = setup
    result = invoke(db, "colour=blue")
    assert result.exit_code == 1 and "not a model card field" in result.output
    result = invoke(db, "local/nothing*")
    assert result.exit_code == 1 and "no model card matches" in result.output


def test_fetch_public_mnist_cards_from_the_offline_mirror(shared_data: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    db = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    result = invoke(db, "dataset=mnist,source=file", "--offline", "--mirror", str(shared_data / "models" / "mnist"),
                    "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 5 and all(r["ok"] and r["origin"] == "mirror" for r in records)
    assert all(r["verified_with"] == ["sha256"] for r in records)
    assert not (tmp_path / "cache" / "weights").exists()  # used in place: nothing copied
