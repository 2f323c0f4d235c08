"""Store: the one place that reads and writes the SQL database.

SQLite by default, any SQLAlchemy URL otherwise. Each job's results are written in one transaction,
so a killed run never leaves half a job behind; a rerun of a finished key is skipped by the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from securitynet import config
from securitynet.catalog.card import ModelCard
from securitynet.errors import StoreError, UnknownModelError
from securitynet.job_identity import JobRecord
from securitynet.json_values import json_default
from securitynet.store import schema
from securitynet.store.migrations import migrate
from securitynet.store.opening import open_engine, store_error


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_value(value: Any) -> float | None:
    """NaN and None are both 'not measured' in the database."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _model_row(card: ModelCard) -> dict[str, Any]:
    paper, pub = card.paper, card.published
    return {
        "id": card.id,
        "name": card.name,
        "source": card.source,
        "architecture": card.architecture,
        "model_type": card.model_type,
        "family": card.family,
        "dataset": card.dataset,
        "data_category": card.data_category,
        "num_classes": card.num_classes,
        "train_size": card.train_size,
        "purpose": card.purpose,
        "venue": paper.venue,
        "venue_type": paper.venue_type,
        "year": paper.year,
        "country": paper.country,
        "num_authors": paper.num_authors,
        "paper_title": paper.title,
        "paper_url": paper.url,
        "weights_url": card.weights.urls[0] if card.weights.urls else None,
        "weight_hash": card.weight_hash,
        "license": card.license,
        "published_train_accuracy": pub.train_accuracy,
        "published_test_accuracy": pub.test_accuracy,
        "published_overfit_gap": pub.overfit_gap,
        "backdoored": None if card.backdoor is None else card.backdoor.attack != "none",
        "card_json": card.to_dict(),
        "card_fingerprint": card.fingerprint(),
        "updated_at": _now(),
    }


class Store:
    """A handle on one database. Cheap to create; safe to share within a process."""

    def __init__(self, url: str | None = None, *, echo: bool = False, read_only: bool = False) -> None:
        """Open (and create or upgrade) the database at ``url``; a StoreError line when that cannot be done.

        ``read_only``: the caller only reads, so a SQLite file that cannot be written is opened read-only
        instead of refused (nothing is written to it, not even the journal mode).
        """
        try:
            self.url = config.database_url(url)
        except OSError as exc:  # the SQLite file's folder could not be created
            raise StoreError(f"cannot create the folder of database {url or '(default)'}: {exc}") from None
        try:
            self.engine, self.read_only = open_engine(self.url, echo=echo, read_only=read_only)
        except sa.exc.SQLAlchemyError as exc:
            raise store_error(exc, self.url) from exc
        try:
            migrate(self.engine, self.url, read_only=self.read_only)
        except (StoreError, sa.exc.SQLAlchemyError) as exc:
            self.engine.dispose()  # no connection stays open to a database we refuse
            if isinstance(exc, StoreError):
                raise
            raise store_error(exc, self.url) from exc

    # --- models ---------------------------------------------------------------------------------

    def upsert_cards(self, cards: Iterable[ModelCard]) -> int:
        """Insert or replace cards by id, all in one transaction. Returns how many were written."""
        rows = [_model_row(card) for card in cards]
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate card ids in one batch: {dupes[:5]}")
        with self.engine.begin() as conn:
            for chunk_start in range(0, len(ids), 500):
                chunk = ids[chunk_start : chunk_start + 500]
                conn.execute(sa.delete(schema.models).where(schema.models.c.id.in_(chunk)))
            conn.execute(sa.insert(schema.models), rows)
        return len(rows)

    def upsert_card(self, card: ModelCard) -> None:
        self.upsert_cards([card])

    def get_card(self, model_id: str) -> ModelCard:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(schema.models.c.card_json).where(schema.models.c.id == model_id)
            ).first()
        if row is None:
            raise UnknownModelError(f"no model with id {model_id!r} in the catalog at {self.url}")
        return ModelCard.from_dict(_as_dict(row[0]), origin=f"database {self.url}")

    def query_cards(
        self,
        *,
        ids: Sequence[str] | None = None,
        dataset: str | None = None,
        architecture: str | None = None,
        family: str | None = None,
        purpose: str | None = None,
        venue: str | None = None,
        year: int | None = None,
        source: str | None = None,
        id_like: str | None = None,
    ) -> list[ModelCard]:
        """Cards matching every given filter (case-insensitive for text), ordered by id."""
        m = schema.models.c
        stmt = sa.select(m.card_json).order_by(m.id)
        text_filters = {
            m.dataset: dataset,
            m.family: family,
            m.purpose: purpose,
            m.venue: venue,
            m.source: source,
        }
        for column, value in text_filters.items():
            if value is not None:
                stmt = stmt.where(sa.func.lower(column) == value.lower())
        if architecture is not None:
            stmt = stmt.where(
                sa.or_(
                    sa.func.lower(m.architecture) == architecture.lower(),
                    sa.func.lower(m.model_type) == architecture.lower(),
                    sa.func.lower(m.family) == architecture.lower(),
                )
            )
        if year is not None:
            stmt = stmt.where(m.year == year)
        if ids is not None:
            stmt = stmt.where(m.id.in_(list(ids)))
        if id_like is not None:
            stmt = stmt.where(m.id.like(id_like.replace("*", "%")))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [ModelCard.from_dict(_as_dict(row[0])) for row in rows]

    def model_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(schema.models.c.id).order_by(schema.models.c.id))]

    def delete_models(self, ids: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.models).where(schema.models.c.id.in_(list(ids))))

    # --- datasets and papers --------------------------------------------------------------------

    def upsert_dataset(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.datasets).where(schema.datasets.c.name == row["name"]))
            conn.execute(sa.insert(schema.datasets), [row])

    def upsert_papers(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert papers, replacing any with the same (title, source)."""
        if not rows:
            return 0
        p = schema.papers.c
        with self.engine.begin() as conn:
            for row in rows:
                conn.execute(
                    sa.delete(schema.papers).where(p.title == row["title"], p.source == row["source"])
                )
            conn.execute(sa.insert(schema.papers), list(rows))
        return len(rows)

    # --- runs, jobs, results --------------------------------------------------------------------

    def start_run(self, run_id: str, *, command: str | None, executor: str | None, host: str | None,
                  software_version: str | None, pid: int | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(schema.runs).values(
                    id=run_id, command=command, executor=executor, status="running", host=host,
                    software_version=software_version, started_at=_now(), pid=pid,
                )
            )

    def close_abandoned_runs(self, host: str, is_alive: Callable[[int], bool]) -> list[str]:
        """Mark "interrupted" the runs still "running" on ``host`` whose driver process is gone (killed with
        SIGKILL, or the machine went down); returns their ids. Runs of other hosts are left alone: their
        processes cannot be checked from here. (A pid reused by a new process keeps its run "running".)"""
        r = schema.runs
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(r.c.id, r.c.pid).where(r.c.status == "running", r.c.host == host, r.c.pid.is_not(None))
            ).all()
            gone = [run_id for run_id, pid in rows if not is_alive(int(pid))]
            if gone:
                conn.execute(sa.update(r).where(r.c.id.in_(gone)).values(status="interrupted"))
        return gone

    def runs_overview(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs, newest first, each with the number of its jobs by status (`jobs_done`, `jobs_failed`;
        a job rerun later counts for the later run)."""
        r, j = schema.runs.c, schema.jobs.c
        counts = (
            sa.select(
                j.run_id,
                sa.func.count().label("jobs"),
                sa.func.sum(sa.case((j.status == "done", 1), else_=0)).label("jobs_done"),
                sa.func.sum(sa.case((j.status != "done", 1), else_=0)).label("jobs_failed"),
            ).group_by(j.run_id).subquery()
        )
        stmt = (
            sa.select(r.id, r.status, r.started_at, r.finished_at, r.host, r.pid, r.executor, r.command,
                      r.software_version, counts.c.jobs, counts.c.jobs_done, counts.c.jobs_failed)
            .select_from(schema.runs.outerjoin(counts, counts.c.run_id == r.id))
            .order_by(r.started_at.desc(), r.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(stmt)]
        for row in rows:  # a run that recorded no job has 0 jobs: counted, not unknown
            for key in ("jobs", "jobs_done", "jobs_failed"):
                row[key] = int(row[key] or 0)
        return rows

    def finish_run(self, run_id: str, status: str = "finished") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(status=status, finished_at=_now())
            )

    def finished_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """Keys of jobs that completed successfully (failed jobs are retried by a rerun)."""
        j = schema.jobs.c
        stmt = sa.select(j.job_key).where(j.status == "done")
        with self.engine.connect() as conn:
            if keys is None:
                return {r[0] for r in conn.execute(stmt)}
            wanted = list(keys)
            found: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found |= {r[0] for r in conn.execute(stmt.where(j.job_key.in_(chunk)))}
            return found

    # --- attack declarations ---------------------------------------------------------------------

    def record_attacks(self, declarations: Iterable[Mapping[str, Any]], *, run_id: str | None = None) -> int:
        """Write what attacks declare for analysis (``Attack.declaration()``: name, version, family, access,
        headline_metrics, score_metrics, score_direction, description), replacing earlier declarations of the
        same names, in one transaction. Returns how many were written."""
        rows = {}
        for declared in declarations:
            rows[declared["name"]] = {
                "name": declared["name"], "version": declared["version"], "family": declared["family"],
                "access": declared.get("access"), "headline_metrics": list(declared.get("headline_metrics") or ()),
                "score_metrics": list(declared.get("score_metrics") or ()),
                "score_direction": declared.get("score_direction"), "description": declared.get("description"),
                "run_id": run_id, "declared_at": _now(),
            }
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.attacks).where(schema.attacks.c.name.in_(list(rows))))
            conn.execute(sa.insert(schema.attacks), list(rows.values()))
        return len(rows)

    def attack_declarations(self) -> dict[str, dict[str, Any]]:
        """Attack name -> its stored declaration (lists as lists), for every declared attack."""
        with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(sa.select(schema.attacks))]
        for row in rows:
            row["headline_metrics"] = list(_as_list(row["headline_metrics"]))
            row["score_metrics"] = list(_as_list(row["score_metrics"]))
        return {row["name"]: row for row in rows}

    def record_job(self, job: JobRecord) -> int:
        """Write a job with all its results and artifacts in one transaction; replaces the same key."""
        return self.record_jobs([job])[0]

    def record_jobs(self, jobs: Iterable[JobRecord]) -> list[int]:
        """Write many jobs (each replacing its key) in one transaction: all of them or none.

        For bulk writers such as the published-table import, where a transaction per job is slow.
        """
        with self.engine.begin() as conn:
            return _write_jobs(conn, jobs)

    def delete_jobs(self, *, origin: str | None = None, model_ids: Iterable[str] | None = None) -> int:
        """Delete jobs (their results and artifacts with them) matching every given filter."""
        if origin is None and model_ids is None:
            raise ValueError("delete_jobs needs a filter (origin, model_ids)")
        j = schema.jobs.c
        clauses = [] if origin is None else [j.origin == origin]
        ids = None if model_ids is None else list(model_ids)
        chunks = [None] if ids is None else [ids[start : start + 500] for start in range(0, len(ids), 500)]
        deleted = 0
        with self.engine.begin() as conn:
            for chunk in chunks:
                extra = [] if chunk is None else [j.model_id.in_(chunk)]
                job_ids = sa.select(j.id).where(*clauses, *extra)
                # Explicit deletes: a database without foreign-key cascades must not keep orphans.
                conn.execute(sa.delete(schema.results).where(schema.results.c.job_id.in_(job_ids)))
                conn.execute(sa.delete(schema.artifacts).where(schema.artifacts.c.job_id.in_(job_ids)))
                deleted += conn.execute(sa.delete(schema.jobs).where(*clauses, *extra)).rowcount or 0
        return deleted

    def results_frame(
        self,
        *,
        model_ids: Sequence[str] | None = None,
        attack_like: str | None = None,
        origin: str | None = None,
        include_failed: bool = False,
    ) -> pd.DataFrame:
        """Long-form results joined with their job provenance and the model's catalog columns."""
        r, j, m = schema.results.c, schema.jobs.c, schema.models.c
        stmt = (
            sa.select(
                r.model_id, r.attack, r.metric, r.value, r.missing_reason, r.origin,
                j.attack_version, j.params_hash, j.params_json, j.seed, j.weight_hash, j.run_id,
                j.software_version, j.device, j.started_at, j.finished_at, j.data_json, j.status,
                m.dataset, m.family, m.architecture, m.purpose, m.num_classes, m.train_size, m.year,
                m.venue, m.venue_type,
            )
            .select_from(schema.results.join(schema.jobs, r.job_id == j.id).outerjoin(
                schema.models, r.model_id == m.id))
            .order_by(r.model_id, r.attack, r.metric)
        )
        if not include_failed:
            stmt = stmt.where(j.status == "done")
        if model_ids is not None:
            stmt = stmt.where(r.model_id.in_(list(model_ids)))
        if attack_like is not None:
            stmt = stmt.where(r.attack.like(attack_like.replace("*", "%")))
        if origin is not None:
            stmt = stmt.where(r.origin == origin)
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)

    def jobs_frame(self, *, status: str | None = None) -> pd.DataFrame:
        stmt = sa.select(schema.jobs).order_by(schema.jobs.c.id)
        if status is not None:
            stmt = stmt.where(schema.jobs.c.status == status)
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)

    def artifacts_for(self, model_id: str, attack: str) -> list[dict[str, Any]]:
        a, j = schema.artifacts.c, schema.jobs.c
        stmt = (
            sa.select(a.name, a.path, a.data_json, j.seed, j.params_json)
            .select_from(schema.artifacts.join(schema.jobs, a.job_id == j.id))
            .where(j.model_id == model_id, j.attack == attack, j.status == "done")
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]


def _write_jobs(conn: sa.Connection, jobs: Iterable[JobRecord]) -> list[int]:
    """Replace the jobs with the same keys by these, with their results and artifacts.

    Batched (one statement per table and chunk) so that thousands of jobs take well under a second;
    within one batch a later job with the same key wins, as it would written one by one.
    """
    j = schema.jobs.c
    jobs = list(jobs)
    keys = [job.key for job in jobs]
    latest = {key: job for key, job in zip(keys, jobs, strict=True)}
    unique = list(latest)
    for start in range(0, len(unique), 500):
        # results and artifacts go with their job (ON DELETE CASCADE)
        conn.execute(sa.delete(schema.jobs).where(j.job_key.in_(unique[start : start + 500])))
    if not unique:
        return []
    rows = []
    for key, job in latest.items():
        duration = None
        if job.started_at and job.finished_at:
            duration = (job.finished_at - job.started_at).total_seconds()
        rows.append(dict(
            job_key=key, model_id=job.model_id, weight_hash=job.weight_hash, attack=job.attack,
            attack_version=job.attack_version, params_hash=job.params_hash,
            params_json=_jsonable(job.params), seed=job.seed, origin=job.origin, status=job.status,
            error=job.error, data_json=_jsonable(job.data), run_id=job.run_id,
            software_version=job.software_version, device=job.device,
            started_at=job.started_at, finished_at=job.finished_at, duration_s=duration,
        ))
    conn.execute(sa.insert(schema.jobs), rows)
    ids: dict[str, int] = {}
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        ids.update({k: int(i) for k, i in conn.execute(sa.select(j.job_key, j.id).where(j.job_key.in_(chunk)))})
    result_rows = []
    artifact_rows = []
    for key, job in latest.items():
        job_id = ids[key]
        for name in sorted(set(job.metrics) | set(job.missing_reasons)):
            value = _clean_value(job.metrics.get(name))
            reason = job.missing_reasons.get(name)
            if value is None and reason is None:
                reason = "not measured"
            result_rows.append(
                {"job_id": job_id, "model_id": job.model_id, "attack": job.attack, "metric": name,
                 "value": value, "missing_reason": reason if value is None else None,
                 "origin": job.origin}
            )
        for name, data in job.artifacts.items():
            path = data.get("path") if isinstance(data, dict) else None
            artifact_rows.append(
                {"job_id": job_id, "name": name, "path": None if path is None else str(path),
                 "data_json": _jsonable(data)}
            )
    if result_rows:
        conn.execute(sa.insert(schema.results), result_rows)
    if artifact_rows:
        conn.execute(sa.insert(schema.artifacts), artifact_rows)
    return [ids[key] for key in keys]


def _as_dict(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


def _as_list(value: Any) -> list[Any]:
    return json.loads(value) if isinstance(value, str) else list(value or [])


def _jsonable(value: Any) -> Any:
    """JSON columns take plain data only; numpy scalars and paths become Python values."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=json_default))
