"""Store.record_jobs (many jobs, one transaction) and Store.delete_jobs."""

from __future__ import annotations

import pytest

from securitynet.store import JobRecord, Store


def _job(model: str, attack: str = "mia.test", value: float | None = 0.7, origin: str = "measured",
         seed: int = 0) -> JobRecord:
    return JobRecord(model_id=model, weight_hash=None, attack=attack, attack_version="1", params={"n": 1},
                     seed=seed, metrics={"auc": value}, missing_reasons={} if value is not None else {"auc": "why"},
                     origin=origin, artifacts={"roc": {"fpr": [0, 1], "tpr": [0, 1]}})


def test_batch_equals_one_by_one(tmp_path) -> None:
    jobs = [_job(f"m/{i}", value=None if i == 2 else i / 10) for i in range(4)]
    one = Store(f"sqlite:///{tmp_path / 'one.sqlite'}")
    for job in jobs:
        one.record_job(job)
    many = Store(f"sqlite:///{tmp_path / 'many.sqlite'}")
    ids = many.record_jobs(jobs)
    assert len(ids) == 4 and len(set(ids)) == 4
    columns = ["model_id", "attack", "metric", "value", "missing_reason", "origin"]
    assert one.results_frame()[columns].equals(many.results_frame()[columns])
    assert many.finished_keys() == {job.key for job in jobs}
    assert len(many.artifacts_for("m/1", "mia.test")) == 1


def test_same_key_replaced_within_and_across_batches(store: Store) -> None:
    store.record_jobs([_job("m/a", value=0.1), _job("m/a", value=0.2)])
    store.record_jobs([_job("m/a", value=0.3)])
    frame = store.results_frame()
    assert frame.value.tolist() == [0.3]
    assert len(store.jobs_frame()) == 1


def test_a_bad_job_writes_nothing(store: Store) -> None:
    good = _job("m/a")
    bad = JobRecord(model_id="m/b", weight_hash=None, attack="x", attack_version="1", params={}, seed=0,
                    metrics={"auc": "not a number"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        store.record_jobs([good, bad])
    assert store.jobs_frame().empty and store.results_frame().empty


def test_delete_jobs_by_origin_and_models(store: Store) -> None:
    store.record_jobs([_job("m/a", origin="published:x"), _job("m/b", origin="published:x"),
                       _job("m/a", origin="measured", seed=1)])
    assert store.delete_jobs(origin="published:x", model_ids=["m/a"]) == 1
    left = store.results_frame()
    assert sorted(zip(left.model_id, left.origin, strict=True)) == [("m/a", "measured"), ("m/b", "published:x")]
    assert store.delete_jobs(origin="published:x") == 1
    assert store.delete_jobs(model_ids=[]) == 0
    assert store.results_frame().origin.tolist() == ["measured"]
    assert len(store.artifacts_for("m/a", "mia.test")) == 1
    with pytest.raises(ValueError, match="needs a filter"):
        store.delete_jobs()
