"""The findings `make run` ends with, from a small stored set of results."""

from __future__ import annotations

from pathlib import Path

from securitynet.analysis.findings import quickstart_findings
from securitynet.catalog.card import BackdoorInfo, InputSpec, ModelCard
from securitynet.store import JobRecord, Store

BADNET, CLEAN_A, CLEAN_B, ZOO = "file/badnet", "file/clean_a", "file/clean_b", "zoo/mlp-overfit"
GAPS = {BADNET: 0.011, CLEAN_A: 0.004, CLEAN_B: 0.005, ZOO: 0.141}
AUCS = {BADNET: 0.52, CLEAN_A: 0.501, CLEAN_B: 0.51, ZOO: 0.83}


def _card(model_id: str) -> ModelCard:
    backdoor = BackdoorInfo(attack="badnets", target_label=1) if model_id == BADNET else BackdoorInfo(attack="none")
    return ModelCard(id=model_id, name=model_id, source=model_id.split("/")[0], architecture="mlp", dataset="mnist",
                     num_classes=10, input=InputSpec(channels=1, size=(28, 28)), backdoor=backdoor)


def _job(model_id: str, attack: str, metrics: dict, params: dict | None = None) -> JobRecord:
    return JobRecord(model_id=model_id, weight_hash=f"sha256:{abs(hash(model_id)):064x}", attack=attack,
                     attack_version="1", params=params or {}, seed=0, metrics=metrics)


def _populate(store: Store) -> None:
    store.upsert_cards([_card(m) for m in GAPS])
    jobs = []
    for model, gap in GAPS.items():
        # Stored under the name annotation had before the engine ran it: an old database still reads.
        jobs.append(_job(model, "annotation", {"train_accuracy": 0.99, "test_accuracy": 0.99 - gap,
                                               "overfit_gap": gap}, {"n_member": 100, "n_test": 100}))
        jobs.append(_job(model, "mia.loss", {"auc": AUCS[model]}))
        jobs.append(_job(model, "mia.entropy", {"auc": AUCS[model] - 0.01}))
        for query_set, agreement in (("in-distribution", 0.9), ("out-of-distribution", 0.4)):
            bonus = 0.05 if model == CLEAN_A else 0.0
            jobs.append(_job(model, "stealing.knockoff", {"agreement": agreement + bonus},
                             {"budget": 1000, "query_set": query_set}))
    verdicts = {BADNET: (1.0, 1.0, 1.0), CLEAN_A: (0.0, 3.0, 1.0), CLEAN_B: (0.0, 5.0, 0.0)}
    for model, (nc_flag, nc_target, abs_flag) in verdicts.items():
        jobs.append(_job(model, "backdoor.neural_cleanse", {"flagged": nc_flag, "suspected_target": nc_target,
                                                            "score": 2.0}))
        jobs.append(_job(model, "backdoor.abs", {"flagged": abs_flag, "suspected_target": 1.0, "score": 0.5}))
        jobs.append(_job(model, "backdoor.mntd", {"flagged": 0.0, "suspected_target": None, "score": 0.1}))
        jobs.append(_job(model, "backdoor.strip", {"flagged": None, "score": 0.3}))
    store.record_jobs(jobs)


def test_findings_name_extremes_best_stealing_backdoor_verdicts_correlation_and_report(store: Store) -> None:
    _populate(store)
    report = Path("/tmp/home/report/report.html")
    lines = quickstart_findings(store, list(GAPS), [BADNET, CLEAN_A, CLEAN_B], report, n_boot=200)
    assert lines[0] == f"membership, most vulnerable of 4 models: {ZOO}: AUC 0.830 (mia.loss), overfit gap 14.1 pts"
    assert lines[1] == f"membership, least vulnerable: {CLEAN_A}: AUC 0.501 (mia.loss), overfit gap 0.4 pts"
    assert lines[2] == (f"stealing, best agreement: in-distribution 0.950 ({CLEAN_A}); "
                        f"out-of-distribution 0.450 ({CLEAN_A})")
    assert lines[3] == (f"backdoor, {BADNET} (backdoored, target 1): FLAGGED by abs (target 1), "
                        "neural_cleanse (target 1); not by mntd")
    assert lines[4] == f"backdoor, 2 clean public models: 1 not flagged; false alarm: {CLEAN_A} by abs (target 1)"
    # AUC rises with the gap on both attacks: rho 1 (the 4 models), and the CI collapses to one point.
    assert lines[5].startswith("membership AUC vs overfit gap: Spearman rho 1.00 (mia.entropy, n = 4")
    assert lines[5].endswith("1.00 to 1.00 over 2 attack variants")
    assert lines[6] == f"report: {report}" and len(lines) == 7


def test_findings_say_what_is_missing_instead_of_inventing_numbers(store: Store) -> None:
    store.upsert_cards([_card(CLEAN_B)])
    lines = quickstart_findings(store, [CLEAN_B], [CLEAN_B])
    assert lines == [
        "membership: no AUC measured",
        "stealing: no agreement measured",
        "backdoor: no detector verdict on the public models",
        "membership AUC vs overfit gap: too few models with both values for a correlation",
    ]


def test_a_clean_set_without_alarms_and_an_unflagged_backdoor_are_said_plainly(store: Store) -> None:
    _populate(store)
    store.record_jobs([_job(CLEAN_A, "backdoor.abs", {"flagged": 0.0, "suspected_target": 1.0, "score": 0.1}),
                       _job(BADNET, "backdoor.abs", {"flagged": 0.0, "suspected_target": 1.0, "score": 0.1}),
                       _job(BADNET, "backdoor.neural_cleanse", {"flagged": 0.0, "suspected_target": 1.0})])
    lines = quickstart_findings(store, list(GAPS), [BADNET, CLEAN_A, CLEAN_B], n_boot=200)
    assert f"backdoor, {BADNET} (backdoored, target 1): not flagged by abs, mntd, neural_cleanse" in lines
    assert "backdoor, 2 clean public models: none flagged" in lines
