"""Plan: expansion into keyed jobs, parameter settings, skip logic against the store."""

from __future__ import annotations

import pytest

from securitynet.attacks import AttackError, get_attack, match_attacks
from securitynet.catalog.card import InputSpec, ModelCard, WeightsSpec
from securitynet.engine.plan import build_plan, normalise_seeds, parse_param_overrides
from securitynet.store import JobRecord


def _card(i: int, dataset: str = "digits") -> ModelCard:
    return ModelCard(
        id=f"plan/model_{i}", name=f"model_{i}", source="file", architecture="securitynet_test_models:TinyNet",
        dataset=dataset, num_classes=10, input=InputSpec(channels=1, size=(8, 8)),
        weights=WeightsSpec(filename=f"m{i}.pt", sha256=f"{i:064x}"),
    )


def test_glob_matching_and_unknown_names() -> None:
    names = [cls.name for cls in match_attacks("test.*")]
    assert names == ["test.probe", "test.probe2"]
    assert [cls.name for cls in match_attacks("mia.correctness, test.probe")] == ["mia.correctness", "test.probe"]
    with pytest.raises(AttackError, match="unknown attack 'nope.x'"):
        match_attacks("nope.x")
    with pytest.raises(AttackError, match="unknown attack 'nothing.\\*'"):
        match_attacks("nothing.*")


def test_expansion_keys_match_the_store_key() -> None:
    cards = [_card(i) for i in range(3)]
    plan = build_plan(cards, "test.*", seeds=2)
    assert len(plan.entries) == 3 * 2 * 2 and len(plan.pending) == 12
    assert len(set(plan.keys)) == 12
    assert [g.card.id for g in plan.groups] == [c.id for c in cards]
    assert all(len(g.jobs) == 4 for g in plan.groups)
    job = plan.pending[0]
    record = JobRecord(model_id=job.model_id, weight_hash=job.weight_hash, attack=job.attack,
                       attack_version=job.attack_version, params=job.params, seed=job.seed)
    assert record.key == job.key
    assert job.weight_hash == f"sha256:{0:064x}"
    assert job.params == {"n": 40, "delay_s": 0.0, "fail": False}  # defaults are part of the key


def test_parameter_settings() -> None:
    attacks = match_attacks("test.*,mia.correctness")
    overrides = parse_param_overrides(["test.*.n=7", "test.probe.fail=true", "mia.correctness.member_split=train"],
                                      attacks)
    assert overrides == {"test.probe": {"n": 7, "fail": True}, "test.probe2": {"n": 7},
                         "mia.correctness": {"member_split": "train"}}
    assert parse_param_overrides({"test.probe": {"n": 3}, "test.probe2.delay_s": 0.5}, attacks) == {
        "test.probe": {"n": 3}, "test.probe2": {"delay_s": 0.5}}
    with pytest.raises(AttackError, match="takes a parameter 'nope'"):
        parse_param_overrides(["test.probe.nope=1"], attacks)
    with pytest.raises(AttackError, match="not of the form"):
        parse_param_overrides(["n=1"], attacks)
    with pytest.raises(AttackError, match="bad parameters for attack test.probe: n"):
        build_plan([_card(0)], "test.probe", params=["test.probe.n=abc"])
    with pytest.raises(AttackError, match="bad parameters for attack test.probe: n"):
        build_plan([_card(0)], "test.probe", params=["test.probe.n=0"])


def test_changed_parameters_change_the_key() -> None:
    base = build_plan([_card(0)], "test.probe")
    changed = build_plan([_card(0)], "test.probe", params=["test.probe.n=41"])
    spelled_as_string = build_plan([_card(0)], "test.probe", params={"test.probe.n": "40"})
    assert base.keys != changed.keys
    assert base.keys == spelled_as_string.keys  # validated values are hashed, not their spelling


def test_seeds() -> None:
    assert normalise_seeds(3) == [0, 1, 2]
    assert normalise_seeds([5, 5, 2]) == [5, 2]
    with pytest.raises(ValueError):
        normalise_seeds(0)


def test_finished_jobs_are_skipped_and_failed_ones_rerun(store) -> None:
    cards = [_card(i) for i in range(2)]
    plan = build_plan(cards, "test.probe", seeds=2, store=store)
    done_job, failed_job = plan.pending[0], plan.pending[1]
    for job, status in ((done_job, "done"), (failed_job, "failed")):
        store.record_job(JobRecord(model_id=job.model_id, weight_hash=job.weight_hash, attack=job.attack,
                                   attack_version=job.attack_version, params=job.params, seed=job.seed,
                                   status=status, metrics={"x": 1.0} if status == "done" else {}))
    again = build_plan(cards, "test.probe", seeds=2, store=store)
    assert [j.key for j in again.done] == [done_job.key]
    assert failed_job.key in [j.key for j in again.pending]
    assert len(again.pending) == 3 and sum(len(g.jobs) for g in again.groups) == 3
    forced = build_plan(cards, "test.probe", seeds=2, store=store, force=True)
    assert len(forced.pending) == 4


def test_not_applicable_jobs_are_planned_but_not_run() -> None:
    plan = build_plan([_card(0), _card(1, dataset="chestmnist")], "mia.correctness")
    states = {e.job.model_id: (e.state, e.reason) for e in plan.entries}
    assert states["plan/model_0"] == ("pending", None)
    assert states["plan/model_1"][0] == "not-applicable" and "multi-label" in states["plan/model_1"][1]
    assert [g.card.id for g in plan.groups] == ["plan/model_0"]


def test_random_weights_are_keyed_apart() -> None:
    pretrained = build_plan([_card(0)], "test.probe")
    random = build_plan([_card(0)], "test.probe", pretrained=False)
    assert random.pending[0].weight_hash is None and random.pending[0].origin == "measured-random-weights"
    assert random.keys != pretrained.keys


def test_registry_refuses_malformed_attacks() -> None:
    from securitynet.attacks import Attack, AttackParams, register_attack

    class NoDefault(AttackParams):
        n: int

    class Bad(Attack):
        name = "Bad Name"
        version = "1"
        access = "posterior"

        def run(self, target, ctx):  # pragma: no cover - never run
            raise AssertionError

    with pytest.raises(AttackError, match="dotted lowercase name"):
        register_attack(Bad)
    Bad.name, Bad.access = "test.bad", "root"
    with pytest.raises(AttackError, match="has access 'root'"):
        register_attack(Bad)
    Bad.access, Bad.Params = "posterior", NoDefault
    with pytest.raises(AttackError, match="every parameter needs a default"):
        register_attack(Bad)
    Bad.Params = AttackParams
    Bad.name = "test.probe"
    with pytest.raises(AttackError, match="registered twice"):
        register_attack(Bad)
    assert get_attack("test.probe").__name__ == "ProbeAttack"
