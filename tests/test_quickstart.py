"""The main job: its steps register the catalog and annotate the public MNIST models into the store."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from securitynet import quickstart
from securitynet.store import Store


@pytest.mark.slow
def test_catalog_and_public_mnist_steps_store_the_annotation(shared_data, store: Store, monkeypatch) -> None:
    monkeypatch.delenv("SECURITYNET_MIRROR", raising=False)
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    out = StringIO()
    from securitynet.cli.quickstart import quickstart_tables

    state = quickstart.run_quickstart(
        store, Console(file=out, width=160), steps=(quickstart.step_catalog, quickstart.step_public_mnist),
        tables=quickstart_tables(),
    )
    assert len(state.public_cards) == 5
    frame = store.results_frame(attack_like="annotation.accuracy")
    tests = frame[frame.metric == "test_accuracy"].set_index("model_id").value
    assert tests["file/lenet5_advertorch_clean"] == pytest.approx(0.9889, abs=1e-4)
    assert "file/badnet_verazuo_mnist" in out.getvalue() and "Annotation: accuracy in %" in out.getvalue()
    # The published table came in too, with its 529 annotated models.
    assert len(store.query_cards(source="published")) == 529


def test_pairs_run_in_rounds_of_one_parameter_set_per_attack(monkeypatch) -> None:
    calls: list[dict] = []

    def fake_evaluate(models, attacks, *, params, store, progress):
        calls.append(params)
        import pandas as pd

        return pd.DataFrame()

    monkeypatch.setattr("securitynet.engine.run.evaluate", fake_evaluate)
    state = quickstart.QuickstartState(store=None, console=Console(file=StringIO()))
    pairs = [("a", {"k": 1}), ("b", {}), ("a", {"k": 2}), ("a", {"k": 3})]
    quickstart.evaluate_pairs(state, ["m/1"], pairs, "test")
    assert calls == [{"a": {"k": 1}, "b": {}}, {"a": {"k": 2}}, {"a": {"k": 3}}]


def test_stealing_summary_pairs_query_sets_of_the_quickstart_runs_only() -> None:
    import json

    import pandas as pd
    from rich.console import Console

    from securitynet.cli.quickstart import stealing_table
    from securitynet.quickstart import stealing_summary

    common = {"budget": 1000, "surrogate": "small-cnn"}
    rows = []
    for query_set, agreement, budget in (("in-distribution", 0.95, 1000), ("out-of-distribution", 0.30, 1000),
                                         ("in-distribution", 0.99, 5000)):
        params = json.dumps({"budget": budget, "surrogate": "small-cnn", "query_set": query_set})
        rows += [{"model_id": "m", "params_json": params, "metric": "agreement", "value": agreement},
                 {"model_id": "m", "params_json": params, "metric": "auc", "value": 0.5}]
    summary = stealing_summary(pd.DataFrame(rows), common)
    assert summary == {"m": {"in-distribution": {"agreement": 0.95}, "out-of-distribution": {"agreement": 0.30}}}
    console = Console(width=80, record=True)
    console.print(stealing_table(summary))
    line = next(text for text in console.export_text().splitlines() if text.startswith("m "))
    assert line.split() == ["m", "–", "–", "0.95", "0.3"]  # target accuracy and queries missing
    assert stealing_summary(pd.DataFrame(), common) == {}


def test_findings_are_the_last_lines_after_the_notes(store: Store) -> None:
    from pathlib import Path

    def failing_step(state: quickstart.QuickstartState) -> None:
        state.notes.append("mia.loss on file/x failed: boom")
        state.report = Path("/somewhere/report.html")

    out = StringIO()
    quickstart.run_quickstart(store, Console(file=out, width=200),
                              steps=(failing_step, quickstart.step_findings))
    lines = out.getvalue().splitlines()
    assert "note: mia.loss on file/x failed: boom" in lines[0]
    assert "findings" in lines[1]
    # Nothing measured: the findings say so rather than print numbers, and end with the report's path.
    assert lines[2:] == ["membership: no AUC measured", "stealing: no agreement measured",
                         "backdoor: no detector verdict on the public models",
                         "membership AUC vs overfit gap: too few models with both values for a correlation",
                         "report: /somewhere/report.html"]
