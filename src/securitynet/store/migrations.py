"""Schema versions: a database made by an older release is upgraded step by step, never rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from securitynet.errors import StoreError
from securitynet.store import schema
from securitynet.store.opening import WHERE_TO_POINT, shown_url


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


def foreign_tables(conn: sa.Connection) -> list[str]:
    """Tables that show the database belongs to another program: any table at all when there is no
    schema_info of ours (this program writes schema_info in the transaction that creates its tables)."""
    inspector = sa.inspect(conn)
    tables = sorted(inspector.get_table_names())
    if "schema_info" not in tables:
        return tables
    columns = {column["name"] for column in inspector.get_columns("schema_info")}
    return [] if {"version", "migrated_at"} <= columns else ["schema_info"]


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


def check_database(conn: sa.Connection, shown: str) -> int:
    """The schema version of a database this release may use; a StoreError for another program's database or
    a newer release's. Reads only."""
    foreign = foreign_tables(conn)
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise StoreError(
            f"{shown} belongs to another program (it has tables {listed} but no securitynet schema); "
            f"it was left unchanged; {WHERE_TO_POINT}"
        )
    version = current_version(conn)
    if version > schema.SCHEMA_VERSION:
        raise StoreError(
            f"{shown} has database schema version {version}, newer than this release supports "
            f"({schema.SCHEMA_VERSION}); upgrade securitynet (pip install -U securitynet) or use another --db"
        )
    return version
