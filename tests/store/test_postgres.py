"""The store on a real PostgreSQL server: the same schema, transactions, cascades and values as on SQLite.

(Every test in this folder that takes `store` also runs on PostgreSQL; these cover what those cannot:
migrations, equality with SQLite, the published import, text ordering, a plain postgresql:// URL.)
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo
from securitynet.errors import StoreError
from securitynet.store import JobRecord, Store, schema


def _jobs() -> list[JobRecord]:
    jobs = []
    for i, model in enumerate(["b/Zeta", "a/alpha", "a/Beta", "a/_under"]):
        jobs.append(JobRecord(model_id=model, weight_hash=f"sha256:{i:064x}", attack="mia.test", attack_version="1",
                              params={"n": 10, "surrogate": "wrn", "nested": {"x": [1, 2]}}, seed=i,
                              metrics={"auc": 0.5 + i / 10, "tpr": None, "big": 1e300, "tiny": 5e-324},
                              missing_reasons={"tpr": "not applicable"}, data={"indices": list(range(5))},
                              artifacts={"roc": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}}))
    return jobs


def _card(model_id: str) -> ModelCard:
    return ModelCard(id=model_id, name=model_id.split("/")[1], source="test", dataset="mnist", num_classes=10,
                     input=InputSpec(channels=1, size=(28, 28)), paper=PaperInfo(venue="x" * 128, country="y" * 255),
                     notes="ü€ — non-ASCII survives")


def test_migrated_schema_matches_and_newer_version_is_refused(postgres_url) -> None:
    store = Store(postgres_url)
    inspector = sa.inspect(store.engine)
    assert set(inspector.get_table_names()) == set(schema.metadata.tables)
    cascades = [fk["options"].get("ondelete") for fk in inspector.get_foreign_keys("results")]
    assert cascades == ["CASCADE"]
    Store(postgres_url)  # opening again migrates nothing
    with store.engine.begin() as conn:
        # One row per migration step of the fresh database, none from the second opening.
        steps = conn.execute(sa.select(sa.func.count()).select_from(schema.schema_info)).scalar()
        assert steps == schema.SCHEMA_VERSION
        conn.execute(sa.insert(schema.schema_info).values(version=schema.SCHEMA_VERSION + 1, migrated_at=sa.func.now()))
    with pytest.raises(StoreError, match="newer than this release supports"):
        Store(postgres_url)
    store.engine.dispose()


def test_same_rows_as_sqlite(postgres_url, tmp_path) -> None:
    frames = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'a.sqlite'}"), ("postgresql", postgres_url)):
        store = Store(url)
        store.upsert_cards([_card(m) for m in ("b/Zeta", "a/alpha", "a/Beta", "a/_under")])
        store.record_jobs(_jobs())
        assert store.get_card("a/Beta").notes == "ü€ — non-ASCII survives"
        assert store.get_card("a/Beta").paper.venue == "x" * 128
        frame = store.results_frame()
        columns = ["model_id", "attack", "metric", "value", "missing_reason", "origin", "params_hash", "seed"]
        frames[name] = frame[columns].sort_values(["model_id", "metric"]).reset_index(drop=True)
        assert frame.params_json.iloc[0] == {"n": 10, "surrogate": "wrn", "nested": {"x": [1, 2]}}
        assert store.artifacts_for("a/alpha", "mia.test")[0]["data_json"] == {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}
        assert frame[frame.metric == "big"].value.iloc[0] == 1e300
        assert frame[frame.metric == "tiny"].value.iloc[0] == 5e-324
        store.engine.dispose()
    pd.testing.assert_frame_equal(frames["sqlite"], frames["postgresql"], check_dtype=False)


def test_a_failing_batch_leaves_nothing_and_cascades_delete(postgres_url) -> None:
    store = Store(postgres_url)
    store.record_jobs(_jobs())
    bad = JobRecord(model_id="m/b", weight_hash=None, attack="x", attack_version="1", params={}, seed=0,
                    metrics={"auc": "not a number"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        store.record_jobs([_jobs()[0], bad])
    assert len(store.jobs_frame()) == 4
    # replacing a job by key removes its old results and artifacts through ON DELETE CASCADE
    store.record_job(_jobs()[0])
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.results)).scalar() == 4 * 4
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.artifacts)).scalar() == 4
    assert store.delete_jobs(model_ids=["a/alpha"]) == 1
    assert "a/alpha" not in set(store.results_frame().model_id)
    store.engine.dispose()


def test_plain_postgresql_url_uses_psycopg(postgres_url) -> None:
    for scheme in ("postgresql://", "postgres://"):
        store = Store(postgres_url.replace("postgresql+psycopg://", scheme))
        assert store.engine.dialect.driver == "psycopg"
        assert store.model_ids() == []
        store.engine.dispose()


@pytest.mark.slow
def test_published_import_on_postgresql(postgres_url, shared_data, tmp_path) -> None:
    from securitynet.catalog.sources.published import import_securitynet_database

    table = shared_data / "reference" / "securitynet_database_README.md"
    if not table.is_file():
        pytest.skip(f"{table} is absent")
    results = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'p.sqlite'}"), ("postgresql", postgres_url)):
        store = Store(url)
        report = import_securitynet_database(table, store)
        again = import_securitynet_database(table, store)  # re-import replaces, never duplicates
        assert again.cards == report.cards and len(store.model_ids()) == report.cards
        frame = store.results_frame()[["model_id", "attack", "params_hash", "metric", "value", "missing_reason"]]
        results[name] = frame.sort_values(["model_id", "attack", "params_hash", "metric"]).reset_index(drop=True)
        store.engine.dispose()
    pd.testing.assert_frame_equal(results["sqlite"], results["postgresql"], check_dtype=False)


def test_another_programs_postgresql_database_is_refused_untouched(postgres_url) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total NUMERIC)"))
    with pytest.raises(StoreError, match=r"belongs to another program \(it has tables invoices but no securitynet"):
        Store(postgres_url)
    assert sa.inspect(engine).get_table_names() == ["invoices"]
    engine.dispose()
