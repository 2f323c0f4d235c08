"""End to end in-process: results with provenance, reruns are no-ops, failures recorded and retried."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import torch

import securitynet
from securitynet.attacks import AccessError
from securitynet.engine.context import JobContext
from securitynet.engine.plan import build_plan
from securitynet.engine.run import execute_plan
from securitynet.store import schema
from securitynet.zoo.loader import load_target


def test_evaluate_stores_results_with_provenance(store, tiny_cards, engine_env) -> None:
    frame = securitynet.evaluate(tiny_cards, "mia.correctness,test.probe", seeds=2, store=store,
                                 params={"test.probe": {"n": 30}})
    assert frame.attrs["failed"] == []
    jobs = store.jobs_frame()
    assert len(jobs) == 3 * 2 * 2 and set(jobs.status) == {"done"}
    assert set(frame.model_id) == {c.id for c in tiny_cards}
    assert len(frame[frame.metric == "auc"]) == 6  # the real attack reported on every model and seed
    row = jobs[(jobs.attack == "test.probe") & (jobs.seed == 1) & (jobs.model_id == tiny_cards[0].id)].iloc[0]
    assert row.software_version == securitynet.__version__ and row.device == "cpu" and row.run_id
    assert row.weight_hash == tiny_cards[0].weight_hash and row.params_json == {"n": 30, "delay_s": 0.0, "fail": False}
    data = row.data_json
    (used,) = data["data_used"]
    assert used["kind"] == "membership" and used["n"] == 30 and used["seed"] == 1
    assert used["member_split"] == "train" and used["nonmember_split"] == "test"
    assert len(used["member_indices"]) == 30 and len(set(used["member_indices"])) == 30
    assert data["target_queries"] == 60 and data["timings"]["job_s"] > 0 and data["attack"] == {"probe": True}
    # an artifact is a file whose hash is recorded
    with store.engine.connect() as conn:
        art = conn.execute(
            sa.select(schema.artifacts).where(schema.artifacts.c.name == "member_posteriors",
                                              schema.artifacts.c.job_id == int(row.id))
        ).first()
    path = Path(art.path)
    assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == art.data_json["sha256"]
    assert np.load(path).shape == (30, 10) and row.job_key in str(path)
    # missing stays missing, with its reason
    probe = frame[(frame.attack == "test.probe") & (frame.metric == "unmeasured")]
    assert len(probe) == 6 and probe.value.isna().all()
    assert set(probe.missing_reason) == {"this probe never measures it"}
    # what analysis needs of each attack of the plan, declared once for the run
    declared = store.attack_declarations()
    assert set(declared) == {"mia.correctness", "test.probe"}
    assert declared["mia.correctness"]["family"] == "membership" and declared["mia.correctness"]["run_id"] == row.run_id
    assert declared["mia.correctness"]["headline_metrics"] == ["auc", "tpr_at_1pct_fpr"]
    assert declared["mia.correctness"]["score_direction"] == "higher-is-member"
    assert declared["test.probe"]["family"] == "other"  # a plug-in that declares nothing


def test_rerun_is_a_no_op_and_force_reruns(store, tiny_cards, engine_env) -> None:
    first = securitynet.evaluate(tiny_cards[:2], "test.probe", store=store)
    plan = build_plan(tiny_cards[:2], "test.probe", store=store)
    assert plan.pending == [] and len(plan.done) == 2
    second = securitynet.evaluate(tiny_cards[:2], "test.probe", store=store)
    assert second.run_id.tolist() == first.run_id.tolist()  # the stored results, not new ones
    forced = securitynet.evaluate(tiny_cards[:2], "test.probe", store=store, force=True)
    assert set(forced.run_id) != set(first.run_id)
    assert len(store.jobs_frame()) == 2
    np.testing.assert_array_equal(forced.sort_values(["model_id", "metric"]).value.to_numpy(),
                                  first.sort_values(["model_id", "metric"]).value.to_numpy())


def test_corrupt_weights_and_wrong_shape_fail_alone_and_are_retried(store, tiny_cards, engine_env) -> None:
    from securitynet_test_models import make_tiny_card

    mirror = engine_env["mirror"]

    def truncate(name: str) -> bytes:
        good = (mirror / name).read_bytes()
        (mirror / name).write_bytes(good[: len(good) // 2])
        return good

    unhashed = make_tiny_card(mirror, 7, with_sha256=False)  # no hash on the card: the load itself fails
    truncate("tiny_7.pt")
    hashed = make_tiny_card(mirror, 9)  # hash on the card: the check fails before loading
    good_bytes = truncate("tiny_9.pt")
    wrong_shape = make_tiny_card(mirror, 8, architecture="seven_outputs")
    cards = [tiny_cards[0], unhashed, hashed, wrong_shape, tiny_cards[1]]
    plan = build_plan(cards, "test.probe,mia.correctness", store=store)
    summary = execute_plan(plan, store, progress=False)
    jobs = store.jobs_frame().set_index(["model_id", "attack"])
    assert len(jobs) == 10 and len(summary.failed) == 6
    for good in (tiny_cards[0].id, tiny_cards[1].id):
        assert set(jobs.loc[good].status) == {"done"}
    errors = {model: set(jobs.loc[model].error) for model in (unhashed.id, hashed.id, wrong_shape.id)}
    (unhashed_error,) = errors[unhashed.id]
    assert unhashed_error.startswith("loading model test/tiny_7 failed: WeightsError") and "tiny_7.pt" in unhashed_error
    (hashed_error,) = errors[hashed.id]
    assert "loading model test/tiny_9 failed: ChecksumError" in hashed_error
    assert all("OutputCheckError" in e and "test/tiny_8: output width" in e for e in errors[wrong_shape.id])
    with store.engine.connect() as conn:  # a failed job has no result rows
        orphan = conn.execute(
            sa.select(sa.func.count()).select_from(schema.results.join(schema.jobs))
            .where(schema.jobs.c.status != "done")
        ).scalar()
    assert orphan == 0
    # repaired weights: the rerun retries exactly the failed jobs, under the same keys
    (mirror / "tiny_9.pt").write_bytes(good_bytes)
    again = build_plan(cards, "test.probe,mia.correctness", store=store)
    assert {j.model_id for j in again.pending} == {unhashed.id, hashed.id, wrong_shape.id}
    execute_plan(again, store, progress=False)
    jobs = store.jobs_frame()
    assert len(jobs) == 10
    assert set(jobs[jobs.model_id == hashed.id].status) == {"done"}
    assert set(jobs[jobs.model_id == wrong_shape.id].status) == {"failed"}


def test_attack_exception_is_recorded_and_run_goes_on(store, tiny_cards, engine_env) -> None:
    frame = securitynet.evaluate(tiny_cards[:2], "test.probe", store=store, seeds=[0],
                                 params=["test.probe.fail=true"])
    assert frame.empty and len(frame.attrs["failed"]) == 2
    jobs = store.jobs_frame()
    assert set(jobs.status) == {"failed"}
    assert jobs.error.str.contains("RuntimeError: probe asked to fail").all()
    assert "securitynet_test_attacks.py" in jobs.data_json.iloc[0]["traceback"]


def test_second_posterior_attack_reads_the_cache(store, tiny_cards, engine_env) -> None:
    securitynet.evaluate(tiny_cards[:1], "test.probe,test.probe2", store=store)
    jobs = store.jobs_frame().set_index("attack")
    first, second = jobs.loc["test.probe", "data_json"], jobs.loc["test.probe2", "data_json"]
    assert first["posterior_cache"]["misses"] == 2 and first["posterior_cache"]["forward_batches"] >= 2
    assert second["posterior_cache"]["misses"] == 0 and second["posterior_cache"]["memory_hits"] == 2
    assert len(list(engine_env["cache"].rglob("*.npy"))) == 2


def test_seeded_streams_differ_per_job_but_membership_is_shared(store, tiny_cards, engine_env) -> None:
    frame = securitynet.evaluate(tiny_cards[:2], "test.probe,test.probe2", store=store, seeds=2)
    draws = frame[frame.metric == "numpy_draw"].value
    assert draws.nunique() == len(draws) == 8  # every job has its own stream
    jobs = store.jobs_frame()
    members = {
        (row.model_id, row.attack, row.seed): tuple(row.data_json["data_used"][0]["member_indices"])
        for row in jobs.itertuples()
    }
    for seed in (0, 1):  # same seed: the same members for every model and attack
        assert len({v for (m, a, s), v in members.items() if s == seed}) == 1
    assert members[(tiny_cards[0].id, "test.probe", 0)] != members[(tiny_cards[0].id, "test.probe", 1)]


def test_label_access_gets_no_posteriors(tiny_cards, engine_env) -> None:
    from securitynet.engine.access import view_for

    target = load_target(tiny_cards[0], device="cpu")
    ctx = JobContext.standalone(tiny_cards[0], access="label", device="cpu")
    view = view_for(target, "label")
    images = np.zeros((3, 8, 8), dtype=np.uint8)
    assert view.predict(images).shape == (3,)
    with pytest.raises(AccessError):
        view.predict_proba(images)
    with pytest.raises(AccessError):
        _ = view.module
    with pytest.raises(AccessError):
        ctx.posteriors(view, images)
    assert ctx.predictions(view, images).shape == (3,) and view.queries == 6
    assert isinstance(view_for(target, "white-box").module, torch.nn.Module)
