"""A consistent SQLite copy of the store, with the views that make it browsable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from securitynet.files import atomic_path
from securitynet.store import schema

CHUNK = 2000

# Results with their model's catalog columns: the view Datasette facets on (dataset, family, ...).
MODEL_RESULTS_VIEW = """
CREATE VIEW model_results AS
SELECT r.model_id, m.name, m.dataset, m.family, m.purpose, m.venue, m.venue_type, m.year, m.source,
       r.attack, r.metric, r.value, r.missing_reason, r.origin, j.params_hash, j.params_json, j.seed,
       j.attack_version, j.weight_hash, j.run_id, j.software_version, j.device, j.finished_at, r.job_id
FROM results r
JOIN jobs j ON j.id = r.job_id
LEFT JOIN models m ON m.id = r.model_id
WHERE j.status = 'done'
"""


def write_snapshot(store: Any, path: str | Path) -> Path:
    """Copy every table of the store into a new SQLite file at ``path`` (replaced atomically)."""
    path = Path(path).expanduser().resolve()
    with atomic_path(path) as temporary:
        _copy_tables(store, temporary)
    return path


def _copy_tables(store: Any, temporary: Path) -> None:
    target = sa.create_engine(f"sqlite:///{temporary}")
    try:
        schema.metadata.create_all(target)
        # One read transaction on the source: the copy is consistent even while a run writes.
        with store.engine.connect() as source, source.begin(), target.begin() as sink:
            for table in schema.metadata.sorted_tables:
                result = source.execute(sa.select(table)).mappings()
                while rows := result.fetchmany(CHUNK):
                    sink.execute(sa.insert(table), [dict(row) for row in rows])
            sink.exec_driver_sql(MODEL_RESULTS_VIEW)
        with target.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")  # one self-contained file, nothing beside it
    finally:
        target.dispose()


def _read(path: str | Path, sql: str) -> list[Any]:
    engine = sa.create_engine(f"sqlite:///{Path(path)}")
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql(sql).all())
    finally:
        engine.dispose()


def distinct_attack_metrics(path: str | Path) -> list[tuple[str, list[str]]]:
    """(attack, its metrics) present in a snapshot, sorted; for building canned queries."""
    rows = _read(path, "SELECT DISTINCT attack, metric FROM results WHERE value IS NOT NULL ORDER BY attack, metric")
    by_attack: dict[str, list[str]] = {}
    for attack, metric in rows:
        by_attack.setdefault(attack, []).append(metric)
    return sorted(by_attack.items())


def declared_attacks(path: str | Path) -> dict[str, tuple[str, list[str], list[str]]]:
    """Attack -> (family, headline metrics, score metrics) as the snapshot's attacks table declares them."""
    rows = _read(path, "SELECT name, family, headline_metrics, score_metrics FROM attacks")
    return {name: (family, _list(headline), _list(scores)) for name, family, headline, scores in rows}


def _list(value: Any) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value or [])
