"""fetch_weights against a local HTTP server on 127.0.0.1: download, verify, cache, resume, retry, mirror, archives."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from securitynet.catalog.card import ModelCard, WeightsSpec
from securitynet.errors import ChecksumError, UnsafeWeightsError, WeightsError
from securitynet.zoo import download as download_module
from securitynet.zoo.download import DownloadPolicy
from securitynet.zoo.weights import card_cache_dir, fetch_weights, load_state_dict_file, try_fetch

FAST = DownloadPolicy(retries=2, backoff_s=0.01, max_backoff_s=0.05, connect_timeout_s=2, read_timeout_s=5)
NO_RETRY = DownloadPolicy(retries=0, backoff_s=0.01, connect_timeout_s=2, read_timeout_s=5)


# --- a small HTTP server with misbehaving modes ------------------------------------------------------


@dataclass
class Served:
    data: bytes
    mode: str = "normal"  # normal | norange | drop (always) | drop_once | 503_once | 404
    hits: int = 0


@dataclass
class Request:
    path: str
    range: str | None
    status: int
    body_bytes: int


@dataclass
class FileServer:
    files: dict[str, Served] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    base: str = ""

    def add(self, name: str, data: bytes, mode: str = "normal") -> str:
        self.files["/" + name] = Served(data, mode)
        return f"{self.base}/{name}"

    def requests_for(self, name: str) -> list[Request]:
        return [r for r in self.log if r.path == "/" + name]


def _handler(server_state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, headers: dict[str, str], body: bytes, *, cut_after: int | None = None) -> None:
            range_header = self.headers.get("Range")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            if cut_after is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            sent = body if cut_after is None else body[:cut_after]
            # Logged before the body goes out: a client that has read it all may check the log at once.
            server_state.log.append(Request(self.path.split("?")[0], range_header, status, len(sent)))
            self.wfile.write(sent)
            self.wfile.flush()
            if cut_after is not None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            served = server_state.files.get(self.path.split("?")[0])
            if served is None or served.mode == "404":
                self._send(404, {}, b"not found")
                return
            served.hits += 1
            if served.mode == "503_once" and served.hits == 1:
                self._send(503, {"Retry-After": "0"}, b"busy")
                return
            data = served.data
            etag = '"' + hashlib.sha1(data).hexdigest() + '"'
            headers = {"ETag": etag, "Content-Type": "application/octet-stream"}
            start = 0
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            honour = served.mode != "norange" and range_header and (if_range is None or if_range == etag)
            if honour:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self._send(416, {"Content-Range": f"bytes */{len(data)}"}, b"")
                    return
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            cut = None
            if served.mode == "drop" or (served.mode == "drop_once" and served.hits == 1):
                cut = len(body) // 2
            self._send(206 if honour else 200, headers, body, cut_after=cut)

    return Handler


@pytest.fixture
def http_server():
    state = FileServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    download_module.forget_unreachable_hosts()
    yield state
    server.shutdown()
    server.server_close()
    download_module.forget_unreachable_hosts()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SECURITYNET_CACHE", str(cache))
    monkeypatch.delenv("SECURITYNET_MIRROR", raising=False)
    monkeypatch.delenv("SECURITYNET_OFFLINE", raising=False)
    return cache


# --- helpers -----------------------------------------------------------------------------------------


def state_dict_bytes(seed: int = 0, size: int = 64) -> tuple[dict[str, torch.Tensor], bytes]:
    generator = torch.Generator().manual_seed(seed)
    state = {
        "fc.weight": torch.randn(size, size, generator=generator),
        "fc.bias": torch.randn(size, generator=generator),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return state, buffer.getvalue()


def make_card(card_id: str = "test/model", **weights: object) -> ModelCard:
    return ModelCard(id=card_id, name=card_id, source="file", dataset="mnist", weights=WeightsSpec(**weights))


def weight_files(cache: Path) -> list[Path]:
    """Every file the fetch left in the weights cache (lock files live elsewhere)."""
    return sorted(p for folder in ("weights", "weights-archives") for p in (cache / folder).rglob("*") if p.is_file())


def assert_same_state(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == expected.keys()
    for key in expected:
        assert torch.equal(loaded[key], expected[key])


# --- plain files -------------------------------------------------------------------------------------


def test_download_verifies_caches_and_second_call_makes_no_request(http_server: FileServer, isolated_cache: Path):
    state, data = state_dict_bytes()
    url = http_server.add("model.pt", data)
    card = make_card(urls=[url], sha256=hashlib.sha256(data).hexdigest())

    first = try_fetch(card, progress=False, policy=FAST)
    assert first.ok and first.origin == "download"
    assert first.path == card_cache_dir(card) / "model.pt"
    assert first.sha256 == hashlib.sha256(data).hexdigest() and first.verified_with == ["sha256"]
    assert_same_state(load_state_dict_file(first.path, card.weights), state)
    assert weight_files(isolated_cache) == [first.path]  # no .part or .meta left

    second = try_fetch(card, progress=False, policy=FAST)
    assert second.ok and second.origin == "cache" and second.path == first.path
    assert len(http_server.requests_for("model.pt")) == 1


def test_progress_bar_does_not_disturb_the_download(http_server: FileServer):
    _, data = state_dict_bytes(seed=3)
    card = make_card(urls=[http_server.add("bar.pt", data)], sha256=hashlib.sha256(data).hexdigest())
    assert fetch_weights(card, progress=True, policy=FAST).read_bytes() == data


def test_interrupted_download_resumes_from_the_partial_file(http_server: FileServer, isolated_cache: Path):
    _, data = state_dict_bytes(seed=1, size=256)
    url = http_server.add("big.pt", data, mode="drop")
    card = make_card(urls=[url], sha256=hashlib.sha256(data).hexdigest())

    with pytest.raises(WeightsError) as info:
        fetch_weights(card, progress=False, policy=NO_RETRY)
    assert "test/model" in str(info.value) and url in str(info.value)
    part = card_cache_dir(card) / "big.pt.part"
    have = part.stat().st_size
    assert 0 < have < len(data)
    assert not (card_cache_dir(card) / "big.pt").exists()  # a failed download is never a cached file

    http_server.files["/big.pt"].mode = "normal"
    path = fetch_weights(card, progress=False, policy=NO_RETRY)
    assert path.read_bytes() == data
    resumed = http_server.requests_for("big.pt")[-1]
    assert resumed.range == f"bytes={have}-" and resumed.status == 206
    assert resumed.body_bytes == len(data) - have
    assert not part.exists()


def test_transient_failures_are_retried_with_resume(http_server: FileServer):
    _, data = state_dict_bytes(seed=2, size=128)
    dropped = make_card("test/dropped", urls=[http_server.add("d.pt", data, "drop_once")],
                        sha256=hashlib.sha256(data).hexdigest())
    busy = make_card("test/busy", urls=[http_server.add("b.pt", data, "503_once")],
                     sha256=hashlib.sha256(data).hexdigest())

    assert fetch_weights(dropped, progress=False, policy=FAST).read_bytes() == data
    first, second = http_server.requests_for("d.pt")
    assert first.range is None and second.range == f"bytes={first.body_bytes}-"

    assert fetch_weights(busy, progress=False, policy=FAST).read_bytes() == data
    assert [r.status for r in http_server.requests_for("b.pt")] == [503, 200]


def test_server_that_ignores_range_gives_a_correct_file(http_server: FileServer):
    _, data = state_dict_bytes(seed=4, size=128)
    url = http_server.add("nr.pt", data, mode="drop")
    card = make_card(urls=[url], sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(WeightsError):
        fetch_weights(card, progress=False, policy=NO_RETRY)

    http_server.files["/nr.pt"].mode = "norange"  # answers the resume request with 200 and the whole file
    path = fetch_weights(card, progress=False, policy=NO_RETRY)
    last = http_server.requests_for("nr.pt")[-1]
    assert last.range is not None and last.status == 200
    assert path.read_bytes() == data  # restarted, not appended


def test_changed_remote_file_restarts_instead_of_splicing(http_server: FileServer):
    _, old = state_dict_bytes(seed=5, size=128)
    _, new = state_dict_bytes(seed=6, size=128)
    url = http_server.add("v.pt", old, mode="drop")
    card = make_card(urls=[url], sha256=hashlib.sha256(new).hexdigest())
    with pytest.raises(WeightsError):
        fetch_weights(card, progress=False, policy=NO_RETRY)
    http_server.files["/v.pt"] = Served(new)  # new ETag: If-Range makes the server send the whole new file
    assert fetch_weights(card, progress=False, policy=NO_RETRY).read_bytes() == new


def test_wrong_hash_raises_checksum_error_and_leaves_nothing(http_server: FileServer, isolated_cache: Path):
    _, data = state_dict_bytes()
    url = http_server.add("model.pt", data)
    wrong = "0" * 64
    card = make_card(urls=[url], sha256=wrong)
    with pytest.raises(ChecksumError) as info:
        fetch_weights(card, progress=False, policy=FAST)
    message = str(info.value)
    assert "model.pt" in message and wrong in message and hashlib.sha256(data).hexdigest() in message
    assert weight_files(isolated_cache) == []


def test_http_404_names_card_and_every_url_and_falls_back_to_the_next_url(http_server: FileServer):
    _, data = state_dict_bytes()
    missing = http_server.add("gone.pt", data, mode="404")
    also_missing = f"{http_server.base}/nowhere/gone.pt"
    card = make_card(urls=[missing, also_missing], sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(WeightsError) as info:
        fetch_weights(card, progress=False, policy=FAST)
    message = str(info.value)
    assert "test/model" in message and missing in message and also_missing in message and "404" in message
    assert len(http_server.requests_for("gone.pt")) == 1  # a 404 is not retried

    good = http_server.add("gone2.pt", data)
    card = make_card(urls=[missing, good], sha256=hashlib.sha256(data).hexdigest(), filename="gone.pt")
    outcome = try_fetch(card, progress=False, policy=FAST)
    assert outcome.ok and outcome.path.read_bytes() == data
    assert [a.kind for a in outcome.attempts] == ["missing", "http", "ok"]


def test_unreachable_host_is_reported_and_not_retried_for_the_next_card():
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    download_module.forget_unreachable_hosts()
    try:
        first = try_fetch(make_card("test/a", urls=[f"http://127.0.0.1:{port}/a.pt"]), progress=False, policy=FAST)
        assert not first.ok and "cannot connect" in first.reason and "3 attempts" in first.reason
        second = try_fetch(make_card("test/b", urls=[f"http://127.0.0.1:{port}/b.pt"]), progress=False, policy=FAST)
        assert not second.ok and "not retried" in second.reason
    finally:
        download_module.forget_unreachable_hosts()


# --- mirror and offline --------------------------------------------------------------------------------


def test_mirror_file_is_verified_and_used_in_place_without_any_request(
    http_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
):
    state, data = state_dict_bytes()
    url = http_server.add("model.pt", data)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.pt").write_bytes(data)
    monkeypatch.setenv("SECURITYNET_MIRROR", str(mirror))
    card = make_card(urls=[url], sha256=hashlib.sha256(data).hexdigest())

    outcome = try_fetch(card, progress=False, policy=FAST)
    assert outcome.ok and outcome.origin == "mirror" and outcome.path == mirror / "model.pt"
    assert http_server.log == [] and weight_files(isolated_cache) == []
    assert_same_state(load_state_dict_file(outcome.path), state)


def test_wrong_mirror_file_is_reported_and_the_download_used(http_server: FileServer, tmp_path: Path):
    _, data = state_dict_bytes()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.pt").write_bytes(b"not these weights")
    card = make_card(urls=[http_server.add("model.pt", data)], sha256=hashlib.sha256(data).hexdigest())
    outcome = try_fetch(card, progress=False, policy=FAST, mirrors=[mirror])
    assert outcome.ok and outcome.origin == "download"
    assert outcome.attempts[0].kind == "checksum" and str(mirror) in outcome.attempts[0].source
    assert (mirror / "model.pt").read_bytes() == b"not these weights"  # a mirror is never modified

    offline = try_fetch(make_card("test/other", urls=[http_server.add("o.pt", data)], sha256="1" * 64),
                        offline=True, mirrors=[mirror], progress=False)
    assert not offline.ok and "offline" in offline.reason


def test_offline_makes_no_request(http_server: FileServer, monkeypatch: pytest.MonkeyPatch):
    _, data = state_dict_bytes()
    card = make_card(urls=[http_server.add("model.pt", data)], sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(WeightsError, match="offline"):
        fetch_weights(card, offline=True, progress=False)
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    with pytest.raises(WeightsError, match="offline"):
        fetch_weights(card, progress=False)
    assert http_server.log == []


# --- archives --------------------------------------------------------------------------------------------


def pytorchcv_like_zip(member: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, payload)
    return buffer.getvalue()


def test_pytorchcv_style_zip_is_verified_by_the_sha1_of_the_extracted_pth(
    http_server: FileServer, isolated_cache: Path
):
    # pytorchcv's model_store downloads <name>-<error>-<sha1[:8]>.pth.zip, extracts it, and checks the
    # sha1 of the extracted .pth (_check_sha1(file_path, sha1_hash)): the hash covers the member, not the zip.
    state, pth = state_dict_bytes(seed=7)
    sha1 = hashlib.sha1(pth).hexdigest()
    member = f"resnet20_cifar10-0597-{sha1[:8]}.pth"
    zipped = pytorchcv_like_zip(member, pth)
    url = http_server.add(f"{member}.zip", zipped)
    card = make_card(
        "pytorchcv/resnet20_cifar10", urls=[url], format="zip", archive_member=member,
        source_hash=sha1, source_hash_algo="sha1", filename=f"{member}.zip",
    )
    outcome = try_fetch(card, progress=False, policy=FAST)
    assert outcome.ok and outcome.path.name == member and outcome.verified_with == ["sha1"]
    assert_same_state(load_state_dict_file(outcome.path, card.weights), state)
    assert weight_files(isolated_cache) == [outcome.path]  # the single-member zip is not kept

    zip_sha1 = hashlib.sha1(zipped).hexdigest()  # the hash of the zip is not what pytorchcv publishes
    wrong = make_card("pytorchcv/other", urls=[url], format="zip", archive_member=member,
                      source_hash=zip_sha1, source_hash_algo="sha1")
    with pytest.raises(ChecksumError, match=zip_sha1):
        fetch_weights(wrong, progress=False, policy=FAST)
    assert not card_cache_dir(wrong).exists()


def test_shared_archive_with_archive_hash_serves_several_cards_with_one_download(
    http_server: FileServer, isolated_cache: Path
):
    # MedMNIST-style: one weights_<flag>.zip with many checkpoints, md5 published for the zip itself.
    states = {name: state_dict_bytes(seed=i) for i, name in enumerate(["resnet18_28_1.pth", "resnet50_28_1.pth"])}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, (_, payload) in states.items():
            zf.writestr(name, payload)
    archive = buffer.getvalue()
    url = http_server.add("weights_bloodmnist.zip", archive)
    md5 = hashlib.md5(archive).hexdigest()
    cards = [
        make_card(f"medmnist/{name[:-4]}", urls=[url + "?download=1"], format="zip", archive_member=name,
                  source_hash=md5, source_hash_algo="md5", source_hash_scope="archive")
        for name in states
    ]
    for card, (name, (state, _)) in zip(cards, states.items(), strict=True):
        outcome = try_fetch(card, progress=False, policy=FAST)
        assert outcome.ok and outcome.path.name == name and outcome.verified_with == ["md5 (archive)"]
        assert_same_state(load_state_dict_file(outcome.path), state)
    assert len(http_server.log) == 1

    again = try_fetch(cards[0], progress=False, policy=FAST)  # cache hit still shows the archive check
    assert again.origin == "cache" and again.verified_with == ["md5 (archive)"]

    tampered = cards[0].model_copy(update={"weights": cards[0].weights.model_copy(update={"source_hash": "f" * 32})})
    tampered = tampered.model_copy(update={"id": "medmnist/tampered"})
    with pytest.raises(ChecksumError):
        fetch_weights(tampered, progress=False, policy=FAST)
    assert not card_cache_dir(tampered).exists()


def test_zip_slip_archive_from_a_url_is_refused_and_nothing_kept(http_server: FileServer, isolated_cache: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("model.pth", state_dict_bytes()[1])
        zf.writestr("../../evil.sh", b"echo owned")
    url = http_server.add("evil.pth.zip", buffer.getvalue())
    card = make_card(urls=[url], format="zip", archive_member="model.pth")
    with pytest.raises(UnsafeWeightsError) as info:
        fetch_weights(card, progress=False, policy=FAST)
    assert "../../evil.sh" in str(info.value) and "evil.pth.zip" in str(info.value)
    assert weight_files(isolated_cache) == []
    assert not any(p.name == "evil.sh" for p in isolated_cache.parent.rglob("evil.sh"))
