"""The store: cards round-trip, filters, one-transaction jobs, missing values stay missing, migrations."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo
from securitynet.errors import CardError, StoreError, UnknownModelError
from securitynet.store import JobRecord, Store, schema


def _card(i: int, dataset: str = "mnist", year: int | None = 2020) -> ModelCard:
    return ModelCard(
        id=f"test/model_{i}",
        name=f"model_{i}",
        source="test",
        architecture="lenet",
        dataset=dataset,
        num_classes=10,
        input=InputSpec(channels=1, size=(28, 28)),
        paper=PaperInfo(venue="NeurIPS", year=year),
        purpose="benchmark",
    )


def test_cards_round_trip_and_filter(store: Store) -> None:
    store.upsert_cards([_card(1), _card(2, "cifar10"), _card(3, year=2021)])
    assert store.get_card("test/model_2").dataset == "cifar10"
    assert [c.id for c in store.query_cards(dataset="MNIST")] == ["test/model_1", "test/model_3"]
    assert [c.id for c in store.query_cards(year=2021)] == ["test/model_3"]
    with pytest.raises(UnknownModelError, match="no model with id 'nope/x'"):
        store.get_card("nope/x")


def test_upsert_replaces_by_id(store: Store) -> None:
    store.upsert_card(_card(1))
    changed = _card(1, dataset="svhn")
    store.upsert_card(changed)
    assert store.model_ids() == ["test/model_1"]
    assert store.get_card("test/model_1").dataset == "svhn"


def test_job_written_once_with_missing_values_as_null(store: Store) -> None:
    job = JobRecord(
        model_id="test/model_1", weight_hash="sha256:abc", attack="mia.test", attack_version="1",
        params={"n": 10}, seed=0, metrics={"auc": 0.7, "tpr": float("nan")},
        missing_reasons={"other": "not applicable"},
    )
    store.record_job(job)
    store.record_job(job)  # same key: replaced, not duplicated
    frame = store.results_frame()
    assert len(frame) == 3
    values = dict(zip(frame.metric, frame.value, strict=True))
    assert values["auc"] == pytest.approx(0.7)
    assert values["tpr"] is None or math.isnan(values["tpr"])
    assert frame.set_index("metric").loc["other", "missing_reason"] == "not applicable"
    assert store.finished_keys() == {job.key}


def test_failed_job_is_not_finished(store: Store) -> None:
    job = JobRecord(model_id="m/x", weight_hash=None, attack="a", attack_version="1", params={},
                    seed=1, status="failed", error="boom")
    store.record_job(job)
    assert store.finished_keys() == set()
    assert store.jobs_frame(status="failed").error.tolist() == ["boom"]


def test_params_hash_ignores_key_order() -> None:
    a = JobRecord(model_id="m/x", weight_hash=None, attack="a", attack_version="1", params={"x": 1, "y": 2}, seed=0)
    b = JobRecord(model_id="m/x", weight_hash=None, attack="a", attack_version="1", params={"y": 2, "x": 1}, seed=0)
    assert a.key == b.key


def test_schema_version_recorded_and_newer_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'v.sqlite'}"
    store = Store(url)
    with store.engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.max(schema.schema_info.c.version))).scalar() == schema.SCHEMA_VERSION
        conn.execute(sa.insert(schema.schema_info).values(version=schema.SCHEMA_VERSION + 1,
                                                          migrated_at=sa.func.now()))
    with pytest.raises(StoreError, match="newer than this release supports"):
        Store(url)


def test_malformed_card_names_card_and_field() -> None:
    with pytest.raises(CardError, match=r"model card x/y is malformed: num_classes"):
        ModelCard.from_dict({"id": "x/y", "name": "y", "source": "t", "dataset": "d", "num_classes": 0})


def test_a_version_1_database_gains_runs_pid(tmp_path) -> None:
    """A database made by the first release (runs without pid) is upgraded in place, its rows kept."""
    url = f"sqlite:///{tmp_path / 'v1.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN pid"))
        conn.execute(sa.insert(schema.schema_info).values(version=1, migrated_at=sa.func.now()))
        conn.execute(sa.text("INSERT INTO runs (id, status, started_at) VALUES ('old', 'finished', '2026-01-01')"))
    store = Store(url)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.max(schema.schema_info.c.version))).scalar() == schema.SCHEMA_VERSION
        assert conn.execute(sa.select(schema.runs.c.id, schema.runs.c.pid)).all() == [("old", None)]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite'}"
    return request.getfixturevalue("postgres_url")


def test_a_version_2_database_gains_the_attacks_table(empty_url: str) -> None:
    """A database as the release before schema 3 left it (no attacks table) is upgraded in place, rows kept."""
    old = Store(empty_url)
    old.record_job(JobRecord(model_id="m/old", weight_hash=None, attack="mia.loss", attack_version="1", params={},
                             seed=0, metrics={"auc": 0.6}))
    with old.engine.begin() as conn:  # back to version 2: schema 3 only added the attacks table
        schema.attacks.drop(conn)
        conn.execute(sa.delete(schema.schema_info).where(schema.schema_info.c.version == 3))
    old.engine.dispose()
    store = Store(empty_url)
    with store.engine.connect() as conn:
        versions = conn.execute(sa.select(schema.schema_info.c.version).order_by(schema.schema_info.c.version))
        assert [v for (v,) in versions] == [1, 2, 3]
    assert sa.inspect(store.engine).has_table("attacks")
    assert store.attack_declarations() == {}  # old results: nothing declared (analysis says so)
    assert store.results_frame().value.tolist() == [0.6]
    store.engine.dispose()


def test_attack_declarations_round_trip_and_the_latest_wins(store: Store) -> None:
    declared = {"name": "backdoor.x", "version": "1", "family": "backdoor", "access": "white-box",
                "headline_metrics": ["flagged", "score"], "score_metrics": ["score"],
                "score_direction": "higher-is-backdoored", "description": "a detector"}
    assert store.record_attacks([declared, {**declared, "name": "mia.y", "family": "membership",
                                            "score_metrics": [], "score_direction": None}], run_id="r1") == 2
    store.record_attacks([{**declared, "version": "2", "score_metrics": ["score", "index"]}], run_id="r2")
    stored = store.attack_declarations()
    assert set(stored) == {"backdoor.x", "mia.y"}
    assert stored["backdoor.x"]["version"] == "2" and stored["backdoor.x"]["run_id"] == "r2"
    assert stored["backdoor.x"]["score_metrics"] == ["score", "index"]
    assert stored["backdoor.x"]["headline_metrics"] == ["flagged", "score"]
    assert stored["mia.y"]["score_direction"] is None and stored["mia.y"]["family"] == "membership"
    assert store.record_attacks([]) == 0


def test_runs_whose_driver_died_are_marked_interrupted(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from securitynet.engine.processes import process_alive

    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for run_id, host, pid in (("killed", "here", dead.pid), ("alive", "here", os.getpid()),
                              ("elsewhere", "there", dead.pid)):
        store.start_run(run_id, command=None, executor="local", host=host, software_version=None, pid=pid)
    assert store.close_abandoned_runs("here", process_alive) == ["killed"]
    with store.engine.connect() as conn:
        status = dict(conn.execute(sa.select(schema.runs.c.id, schema.runs.c.status)).all())
    assert status == {"killed": "interrupted", "alive": "running", "elsewhere": "running"}
