"""The SQL store: models, datasets, papers, runs, jobs and long-form results (SQLAlchemy, no torch)."""

from securitynet.store.database import JobRecord, Store

__all__ = ["JobRecord", "Store"]
