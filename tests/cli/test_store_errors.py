"""Every way a store can fail to open is one line naming the URL and the fix; read-only commands work on a
read-only database; another program's database is refused before anything is written; --debug shows the
traceback."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.cli import app
from securitynet.errors import StoreError
from securitynet.store import Store, opening


def _invoke(*args: str, env: dict[str, str] | None = None):  # noqa: ANN202
    return CliRunner().invoke(app, list(args), env=env)


def _one_error_line(result) -> str:  # noqa: ANN001
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 200)
    before = _digest(path)
    line = _one_error_line(_invoke("--db", str(path), "catalog", "list"))
    assert f"sqlite:///{path} is not a database" in line and "--db" in line
    assert _digest(path) == before


def test_a_folder_or_an_impossible_folder_cannot_be_opened(tmp_path: Path) -> None:
    line = _one_error_line(_invoke("--db", str(tmp_path), "catalog", "register"))
    assert f"database sqlite:///{tmp_path} is a folder, not a file" in line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = _one_error_line(_invoke("--db", str(blocker / "sub" / "db.sqlite"), "catalog", "list"))
    assert "cannot create the folder of database" in line and str(blocker) in line


def test_an_unreachable_server_names_host_and_port_and_hides_the_password() -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = _one_error_line(_invoke("--db", f"postgresql://me:s3cret@127.0.0.1:{port}/sn", "catalog", "list"))
    assert f"cannot reach the database server at 127.0.0.1:{port}" in line
    assert "s3cret" not in line and "is the server running" in line


def test_a_newer_schema_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Store(str(path)).engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_info (version, migrated_at) VALUES (999, '2030-01-01')")
    line = _one_error_line(_invoke("--db", str(path), "catalog", "list"))
    assert "has database schema version 999, newer than this release supports" in line and "upgrade" in line


def _foreign_database(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO recipes (name) VALUES ('bread')")
    conn.close()
    return _digest(path)


def test_another_programs_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "recipes.sqlite"
    before = _foreign_database(path)
    for command in (["catalog", "register"], ["catalog", "list"]):
        line = _one_error_line(_invoke("--db", str(path), *command))
        assert "belongs to another program (it has tables recipes but no securitynet schema)" in line
        assert "left unchanged" in line
    assert _digest(path) == before
    assert not path.with_name(path.name + "-wal").exists()
    with sqlite3.connect(path) as conn:
        assert [row[0] for row in conn.execute("SELECT name FROM sqlite_master")] == ["recipes"]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "recipes.sqlite"
    _foreign_database(path)
    for args, env in ((["--debug"], None), ([], {"SECURITYNET_DEBUG": "1"})):
        result = _invoke(*args, "--db", str(path), "catalog", "list", env=env)
        assert result.exit_code != 0 and isinstance(result.exception, StoreError)
        assert "belongs to another program" in str(result.exception)


@pytest.fixture
def read_only_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A database holding one card, in a folder and a file nobody may write (as root, os.access says so too)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "db.sqlite"
    store = Store(str(path))
    store.upsert_card(ModelCard(id="test/ro", name="ro", source="test", dataset="mnist", num_classes=10,
                                input=InputSpec(channels=1, size=(28, 28))))
    store.engine.dispose()
    path.chmod(0o444)
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user would
        real_access = os.access
        monkeypatch.setattr(opening.os, "access",
                            lambda p, mode: False if mode & os.W_OK else real_access(p, mode))
    yield path
    folder.chmod(0o755)
    path.chmod(0o644)


@pytest.mark.slow  # the report draws its figures: about 7 s on 2 busy cores
def test_read_only_commands_work_on_a_read_only_database(read_only_db: Path, tmp_path: Path) -> None:
    before = _digest(read_only_db)
    listed = _invoke("--db", str(read_only_db), "catalog", "list", "--no-builtin", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert "test/ro" in listed.stdout
    shown = _invoke("--db", str(read_only_db), "catalog", "show", "test/ro")
    assert shown.exit_code == 0, shown.output
    report = _invoke("--db", str(read_only_db), "report", "--out", str(tmp_path / "report"), "--bootstrap", "100")
    assert report.exit_code == 0, report.output
    from securitynet.serve.snapshot import write_snapshot  # what `serve` reads before it starts Datasette

    snapshot = write_snapshot(Store(str(read_only_db), read_only=True), tmp_path / "snapshot.sqlite")
    with sqlite3.connect(snapshot) as conn:
        assert conn.execute("SELECT id FROM models").fetchall() == [("test/ro",)]
    conn.close()
    assert _digest(read_only_db) == before
    assert sorted(p.name for p in read_only_db.parent.iterdir()) == ["db.sqlite"]  # no journal, no -wal, no -shm


def test_a_command_that_writes_says_the_database_is_read_only(read_only_db: Path) -> None:
    line = _one_error_line(_invoke("--db", str(read_only_db), "catalog", "register"))
    assert f"database sqlite:///{read_only_db} is read-only" in line and "permissions" in line


def test_an_unreadable_file_says_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.sqlite"
    Store(str(path)).engine.dispose()
    path.chmod(0o000)
    if os.geteuid() == 0:  # root reads anything: make the permission check see what a user would
        real_access = os.access
        monkeypatch.setattr(opening.os, "access",
                            lambda p, mode: False if Path(p) == path and mode & os.R_OK else real_access(p, mode))
    try:
        line = _one_error_line(_invoke("--db", str(path), "catalog", "list"))
    finally:
        path.chmod(0o644)
    assert f"cannot open database sqlite:///{path}: the file is not readable (permissions)" in line


def test_a_database_error_during_a_command_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import sqlalchemy as sa
    import typer

    from securitynet.cli.common import clean_errors, state

    def locked() -> None:
        raise sa.exc.OperationalError("INSERT INTO jobs ...", {}, sqlite3.OperationalError("database is locked"))

    state.db_url, state.debug = str(tmp_path / "busy.sqlite"), False
    try:
        with pytest.raises(typer.Exit):
            clean_errors(locked)()
    finally:
        state.db_url = None
    err = capsys.readouterr().err.strip()
    assert err == (f"error: database sqlite:///{tmp_path / 'busy.sqlite'} is locked by another process "
                   "(database is locked); retry when it is done")
