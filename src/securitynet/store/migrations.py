"""Schema versions: a database made by an older release is upgraded step by step, never rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from securitynet.errors import StoreError
from securitynet.store import schema
from securitynet.store.identity import check_database, shown_url


def _create_v1(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn)


def _runs_pid_v2(conn: sa.Connection) -> None:
    """runs.pid, so that a run killed without a chance to say so can be told from one still going."""
    # A database created at version 1 by this release already has it (create_all builds the newest tables).
    if "pid" not in {column["name"] for column in sa.inspect(conn).get_columns("runs")}:
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN pid INTEGER"))


def _attacks_v3(conn: sa.Connection) -> None:
    """The attacks table: what each attack declares for analysis (family, headline metrics, scores)."""
    schema.attacks.create(conn, checkfirst=True)  # a database created by this release at version 1 has it


# version -> step that brings a database at version-1 to version. Append, never edit.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {1: _create_v1, 2: _runs_pid_v2, 3: _attacks_v3}


def migrate(engine: sa.Engine, url: str | None = None, *, read_only: bool = False) -> int:
    """Bring the database to SCHEMA_VERSION; refuse, before writing anything, a database from a newer
    release or one that belongs to another program. ``read_only``: check only, never write."""
    shown = shown_url(url) if url else "the database"
    with engine.begin() as conn:
        version = check_database(conn, shown)
        if version < schema.SCHEMA_VERSION and read_only:
            raise StoreError(
                f"{shown} has database schema version {version} and needs an upgrade to version "
                f"{schema.SCHEMA_VERSION}, but it is read-only; run any command once with write access to upgrade it"
            )
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            conn.execute(sa.insert(schema.schema_info).values(version=target, migrated_at=datetime.now(UTC)))
        return schema.SCHEMA_VERSION
