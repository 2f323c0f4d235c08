"""The SQL store: models, datasets, papers, runs, jobs and long-form results (SQLAlchemy, no torch)."""

from securitynet.job_identity import JobRecord  # defined on the ground floor; re-exported for the store's callers
from securitynet.store.database import Store

__all__ = ["JobRecord", "Store"]
