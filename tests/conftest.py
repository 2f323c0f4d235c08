"""Shared fixtures: an isolated home/cache per test session, the offline data folder, a fresh store."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cuda` skip, with the reason, where torch sees no GPU."""
    needs_gpu = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not needs_gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: torch {torch.__version__} sees none on this machine")
    for item in needs_gpu:
        item.add_marker(skip)


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


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test, on the server named by SECURITYNET_TEST_POSTGRES_URL
    (`make test` starts one with scripts/with-test-postgres.sh); dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    server = os.environ.get("SECURITYNET_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("SECURITYNET_TEST_POSTGRES_URL is not set "
                    "(run under scripts/with-test-postgres.sh, as make test does)")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"securitynet_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class HeadlessChromium:
    """Debian's chromium, headless, with the flags a closed network and a root user need."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
             "--disable-dev-shm-usage")

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def _run(self, url: str, *extra: str, timeout: float = 90) -> str:
        import subprocess
        import tempfile

        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            done = subprocess.run([self.executable, *self.FLAGS, f"--user-data-dir={profile}", *extra, url],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"chromium failed on {url} ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def dump_dom(self, url: str, *, budget_ms: int = 5000) -> str:
        """The DOM after the page loaded and its scripts ran (virtual time lets load handlers finish)."""
        return self._run(url, "--dump-dom", f"--virtual-time-budget={budget_ms}")

    def screenshot(self, url: str, path: Path, *, size: str = "1400,1000") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._run(url, f"--screenshot={path}", f"--window-size={size}", "--hide-scrollbars")
        assert path.is_file() and path.stat().st_size > 0, f"chromium wrote no screenshot of {url}"
        return path


@pytest.fixture(scope="session")
def chromium() -> HeadlessChromium:
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium)")
    return HeadlessChromium(executable)


@pytest.fixture(scope="session")
def test_artifacts() -> Path:
    """Folder for files a test keeps for people to look at (screenshots): test-artifacts/ in the checkout."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


# --- tables readable at a given width (securitynet.cli.output) ---------------------------------------------

_TABLE_TOKEN = re.compile(r"[^\s│┃|]+")


def readability_problems(text: str, width: int, ids: Iterable[str], headers: Iterable[str]) -> list[str]:
    """What makes ``text`` (tables printed at ``width``) unreadable: long lines, cut headers, ids broken mid-word.

    An id may be wrapped after ``/`` or ``.`` and a part of it shortened in the middle (``head…tail``);
    every part must still show either whole or as such a shortening.
    """
    problems = [f"line {n} is {len(line)} wide: {line!r}" for n, line in enumerate(text.splitlines())
                if len(line) > width]
    problems += [f"header {h!r} is not shown whole" for h in headers if h not in text]
    tokens = set(_TABLE_TOKEN.findall(text))
    shortened = [t.rstrip("/.") for t in tokens if "…" in t]
    for model_id in ids:
        separator = "/" if "/" in model_id else r"(?<=[A-Za-z_])\.(?=[A-Za-z_])"
        for part in filter(None, re.split(separator, model_id)):
            whole = any(part in t for t in tokens)
            short = any(part.startswith(re.split(r"[/.]", s.split("…")[0])[-1])
                        and part.endswith(re.split(r"[/.]", s.split("…")[1])[0]) for s in shortened)
            if not (whole or short):
                problems.append(f"id {model_id!r}: part {part!r} is broken mid-word")
    return problems


@pytest.fixture
def table_problems() -> Callable[[str, int, Iterable[str], Iterable[str]], list[str]]:
    """``table_problems(text, width, ids, headers)``: see `readability_problems`."""
    return readability_problems


@pytest.fixture
def console_width(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Make the CLI's console print at a fixed width, to the standard output CliRunner captures."""
    from rich.console import Console

    from securitynet.cli import common

    def set_width(width: int) -> None:
        monkeypatch.setattr(common, "console", Console(width=width, color_system=None))

    return set_width


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An offline Hugging Face Hub cache (HF_HUB_CACHE, HF_HUB_OFFLINE=1) and `put(repo_id, filename, data)`, which
    writes a file into it in huggingface_hub's layout: `models--<org>--<name>/blobs/<sha256>` (an LFS file's etag),
    `refs/main` holding a commit hash and `snapshots/<commit>/<filename>` linking to the blob. Returns the blob."""
    import hashlib

    root = tmp_path / "hf-hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def put(repo_id: str, filename: str, data: bytes, revision: str = "main") -> Path:
        repo = root / f"models--{repo_id.replace('/', '--')}"
        commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
        pointer = repo / "snapshots" / commit / filename
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
        return blob

    return put
