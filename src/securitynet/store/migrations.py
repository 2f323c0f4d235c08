"""Schema versions: a database made by an older release is upgraded step by step, never rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from securitynet.store import schema


def _create_v1(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn)


def _runs_pid_v2(conn: sa.Connection) -> None:
    """runs.pid, so that a run killed without a chance to say so can be told from one still going."""
    # A database created at version 1 by this release already has it (create_all builds the newest tables).
    if "pid" not in {column["name"] for column in sa.inspect(conn).get_columns("runs")}:
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN pid INTEGER"))


# version -> step that brings a database at version-1 to version. Append, never edit.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {1: _create_v1, 2: _runs_pid_v2}


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_info"):
        return 0
    value = conn.execute(sa.select(sa.func.max(schema.schema_info.c.version))).scalar()
    return int(value or 0)


def migrate(engine: sa.Engine) -> int:
    """Bring the database to SCHEMA_VERSION; refuse a database from a newer release."""
    with engine.begin() as conn:
        version = current_version(conn)
        if version > schema.SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema version {version} is newer than this release supports "
                f"({schema.SCHEMA_VERSION}); upgrade securitynet"
            )
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            conn.execute(sa.insert(schema.schema_info).values(version=target, migrated_at=datetime.now(UTC)))
        return schema.SCHEMA_VERSION
