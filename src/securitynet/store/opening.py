"""Opening a database safely: what is at the URL is checked before anything is written to it.

Every way a store can fail to open becomes one StoreError line naming the URL (password hidden) and the
likely fix: a file that is not a database, a file or folder that cannot be opened, a server that does
not answer (with its host and port), a schema from a newer release, a database that belongs to another
program (refused before anything is written, never altered). A SQLite file that cannot be written is
opened read-only for the commands that only read (`catalog list/show`, `report`, `serve`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from securitynet.errors import StoreError
from securitynet.store.identity import WHERE_TO_POINT, check_database, shown_url

SQLITE_HEADER = b"SQLite format 3\x00"



def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_sqlite_file(url: str, path: Path) -> None:
    """Refuse, before SQLite touches it, a path that cannot hold this store's SQLite database."""
    if path.is_dir():
        raise StoreError(f"database {shown_url(url)} is a folder, not a file; {WHERE_TO_POINT}")
    if not path.parent.is_dir():
        raise StoreError(f"cannot open database {shown_url(url)}: the folder {path.parent} does not exist; "
                         "create it or point --db (or SECURITYNET_DB) elsewhere")
    if not path.exists():
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StoreError(f"cannot create database {shown_url(url)}: the folder {path.parent} is not writable "
                             "(permissions); choose a writable place with --db (or SECURITYNET_DB)")
        return
    if not os.access(path, os.R_OK):
        raise StoreError(f"cannot open database {shown_url(url)}: the file is not readable (permissions); "
                         "fix its permissions or point --db (or SECURITYNET_DB) elsewhere")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:  # an empty file is an empty SQLite database
        raise StoreError(f"{shown_url(url)} is not a database (the file is not SQLite); {WHERE_TO_POINT}")


def writable(path: Path) -> bool:
    """Whether SQLite can write this database: the file, and its folder for the WAL and journal files."""
    folder_ok = os.access(path.parent, os.W_OK | os.X_OK)
    return folder_ok and (not path.exists() or os.access(path, os.W_OK))


def read_only_sqlite_engine(path: Path) -> sa.Engine:
    """An engine that reads a SQLite file without writing a byte: no WAL switch, no journal, no -shm file
    where none can be made (then the file is read as immutable, which is right while nobody can write it)."""
    folder_ok = os.access(path.parent, os.W_OK | os.X_OK)
    shared_memory = path.with_name(path.name + "-shm").exists()
    mode = "mode=ro" if folder_ok or shared_memory else "immutable=1"
    uri = f"file:{quote(str(path))}?{mode}"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)


def open_engine(url: str, *, echo: bool = False, read_only: bool = False) -> tuple[sa.Engine, bool]:
    """An engine on ``url`` and whether it is read-only, after the checks that need no write.

    ``read_only``: the caller only reads, so a SQLite file that cannot be written is opened read-only
    instead of refused.
    """
    if not url.startswith("sqlite"):
        return sa.create_engine(url, echo=echo, future=True), False
    path = sqlite_path(url)
    if path is not None:
        check_sqlite_file(url, path)
        if path.exists():
            # Identify the file before the usual connection switches it to WAL: a write, even to a
            # database that is not ours.
            probe = read_only_sqlite_engine(path)
            try:
                with probe.connect() as conn:
                    check_database(conn, shown_url(url))
            finally:
                probe.dispose()
            if not writable(path):
                if not read_only:
                    raise StoreError(
                        f"database {shown_url(url)} is read-only (the file or its folder cannot be written; "
                        "permissions); commands that store anything need write access: fix them or use another --db"
                    )
                return read_only_sqlite_engine(path), True
    # A cluster driver and a CLI may open the same file; wait instead of failing at once.
    engine = sa.create_engine(url, echo=echo, future=True, connect_args={"timeout": 60})
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine, False


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def store_error(exc: BaseException, url: str) -> StoreError:
    """A database driver's error as one line naming the URL and what to do."""
    if isinstance(exc, StoreError):
        return exc
    detail = _first_line(exc)
    lowered = detail.lower()
    shown = shown_url(url)
    path = sqlite_path(url)
    if path is not None:
        if "file is not a database" in lowered or "file is encrypted" in lowered:
            return StoreError(f"{shown} is not a database (SQLite says: {detail}); {WHERE_TO_POINT}")
        if "readonly" in lowered or "read-only" in lowered:
            return StoreError(f"database {shown} is read-only (the file or its folder cannot be written); "
                              "commands that store results need write access: fix the permissions or use another --db")
        if "unable to open" in lowered:
            return StoreError(f"cannot open database {shown} (SQLite says: {detail}); check that the file and its "
                              "folder exist and are readable and writable")
        if "locked" in lowered:
            return StoreError(f"database {shown} is locked by another process ({detail}); retry when it is done")
        return StoreError(f"database {shown}: {detail}")
    if isinstance(exc, sa.exc.OperationalError) and _is_connection_failure(lowered):
        parsed = make_url(url)
        host = parsed.host or "localhost"
        port = parsed.port or _DEFAULT_PORTS.get(parsed.get_backend_name(), "default port")
        return StoreError(f"cannot reach the database server at {host}:{port} ({shown}): {detail}; is the server "
                          "running, and are host, port, user and password in --db (or SECURITYNET_DB) right?")
    return StoreError(f"database {shown}: {detail}")


_DEFAULT_PORTS: dict[str, Any] = {"postgresql": 5432, "mysql": 3306}


def _is_connection_failure(lowered: str) -> bool:
    return any(
        words in lowered
        for words in ("connection refused", "could not connect", "connection failed", "timeout expired",
                      "could not translate host", "name or service not known", "no route to host",
                      "password authentication failed", "does not exist", "connection to server")
    )


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error; its own text is shorter
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__
