"""`securitynet serve`: the database in Datasette, read-only, with facets, canned queries and the report.

Datasette reads SQLite only, and an immutable file must not change while it is served; so the store (any
SQLAlchemy URL: SQLite or PostgreSQL) is first copied into a SQLite snapshot, which Datasette then opens
in immutable mode. A run writing to the store meanwhile changes nothing that is being browsed.
"""

from securitynet.serve.server import serve

__all__ = ["serve"]
