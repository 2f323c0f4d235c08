"""Whose database is this? Read-only checks made before anything is written: the schema version, and
whether the database belongs to another program. Messages name the URL with any password hidden."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from securitynet.errors import StoreError
from securitynet.store import schema

WHERE_TO_POINT = "point --db (or SECURITYNET_DB) at a securitynet database or a new file"


def shown_url(url: str) -> str:
    """The URL as it may be printed: any password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL has no password we could hide; show it as given
        return url


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
