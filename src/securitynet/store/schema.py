"""Table definitions. Columns copied out of the card exist so that SQL (and Datasette) can filter on them."""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 3

metadata = sa.MetaData()

schema_info = sa.Table(
    "schema_info",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("source", sa.String(64), nullable=False, index=True),
    sa.Column("architecture", sa.String(255)),
    sa.Column("model_type", sa.String(64)),
    sa.Column("family", sa.String(64), index=True),
    sa.Column("dataset", sa.String(64), nullable=False, index=True),
    sa.Column("data_category", sa.String(64)),
    sa.Column("num_classes", sa.Integer),
    sa.Column("train_size", sa.Integer),
    sa.Column("purpose", sa.String(32), index=True),
    sa.Column("venue", sa.String(128), index=True),
    sa.Column("venue_type", sa.String(64)),
    sa.Column("year", sa.Integer, index=True),
    sa.Column("country", sa.String(255)),
    sa.Column("num_authors", sa.Integer),
    sa.Column("paper_title", sa.Text),
    sa.Column("paper_url", sa.Text),
    sa.Column("weights_url", sa.Text),
    sa.Column("weight_hash", sa.String(128)),
    sa.Column("license", sa.String(128)),
    sa.Column("published_train_accuracy", sa.Float),
    sa.Column("published_test_accuracy", sa.Float),
    sa.Column("published_overfit_gap", sa.Float),
    sa.Column("backdoored", sa.Boolean),
    sa.Column("card_json", sa.JSON, nullable=False),
    sa.Column("card_fingerprint", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("category", sa.String(64)),
    sa.Column("num_classes", sa.Integer),
    sa.Column("input_shape", sa.String(64)),
    sa.Column("splits_json", sa.JSON),
    sa.Column("description", sa.Text),
    sa.Column("license", sa.String(128)),
)

papers = sa.Table(
    "papers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("venue", sa.String(128)),
    sa.Column("venue_type", sa.String(64)),
    sa.Column("year", sa.Integer),
    sa.Column("paper_url", sa.Text),
    sa.Column("code_url", sa.Text),
    sa.Column("source", sa.String(128), nullable=False),
    sa.UniqueConstraint("title", "source", name="uq_papers_title_source"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("command", sa.Text),
    sa.Column("executor", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("software_version", sa.String(64)),
    sa.Column("host", sa.String(255)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    # The driver's process id (schema 2): a "running" run whose process is gone on its host was killed.
    sa.Column("pid", sa.Integer),
)

# One row per (model, weights, attack, version, params, seed): the unit that is run once.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_key", sa.String(64), nullable=False, unique=True),
    sa.Column("model_id", sa.String(255), nullable=False, index=True),
    sa.Column("weight_hash", sa.String(128)),
    sa.Column("attack", sa.String(128), nullable=False, index=True),
    sa.Column("attack_version", sa.String(32), nullable=False),
    sa.Column("params_hash", sa.String(32), nullable=False),
    sa.Column("params_json", sa.JSON),
    sa.Column("seed", sa.Integer),
    sa.Column("origin", sa.String(64), nullable=False, server_default="measured"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("data_json", sa.JSON),
    sa.Column("run_id", sa.String(64)),
    sa.Column("software_version", sa.String(64)),
    sa.Column("device", sa.String(64)),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("duration_s", sa.Float),
)

results = sa.Table(
    "results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("model_id", sa.String(255), nullable=False, index=True),
    sa.Column("attack", sa.String(128), nullable=False, index=True),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("missing_reason", sa.Text),
    sa.Column("origin", sa.String(64), nullable=False, server_default="measured"),
    sa.UniqueConstraint("job_id", "metric", name="uq_results_job_metric"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("path", sa.Text),
    sa.Column("data_json", sa.JSON),
    sa.UniqueConstraint("job_id", "name", name="uq_artifacts_job_name"),
)

# What each attack declares about itself for analysis (schema 3), written by the engine once per run for the
# attacks of its plan; the latest declaration of a name wins. Analysis reads families, headline metrics and
# scores here instead of guessing them from attack names.
attacks = sa.Table(
    "attacks",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("family", sa.String(64), nullable=False),  # membership | stealing | backdoor | annotation | ...
    sa.Column("access", sa.String(16)),
    sa.Column("headline_metrics", sa.JSON, nullable=False),  # list, in the order a reader looks at them
    sa.Column("score_metrics", sa.JSON, nullable=False),  # list: per-model metrics that are scores (AUROC)
    sa.Column("score_direction", sa.String(64)),  # e.g. higher-is-backdoored; NULL for an attack without scores
    sa.Column("description", sa.Text),
    sa.Column("run_id", sa.String(64)),
    sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
)
