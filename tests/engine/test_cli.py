"""`securitynet attacks list|show` and `securitynet evaluate` (dry run, a real run, bad input)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.cli.common import console

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are not folded at 80 columns, so the output can be searched."""
    monkeypatch.setattr(console, "width", 200)


def test_attacks_list_shows_parameters() -> None:
    result = runner.invoke(app, ["attacks", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {a["name"]: a for a in json.loads(result.output)}
    assert {"mia.correctness", "test.probe"} <= set(listed)
    assert listed["mia.correctness"]["access"] == "label"
    probe = listed["test.probe"]
    assert probe["access"] == "posterior" and probe["version"] == "1"
    assert [(p["name"], p["type"], p["default"]) for p in probe["params"]] == [
        ("n", "int", 40), ("delay_s", "float", 0.0), ("fail", "bool", False)]
    table = runner.invoke(app, ["attacks", "list", "mia.*"])
    assert table.exit_code == 0 and "mia.correctness" in table.output and "test.probe" not in table.output
    show = runner.invoke(app, ["attacks", "show", "test.probe"])
    assert show.exit_code == 0 and "delay_s" in show.output
    unknown = runner.invoke(app, ["attacks", "show", "nope.x"])
    assert unknown.exit_code == 1 and "unknown attack 'nope.x'" in unknown.output


def test_evaluate_dry_run_then_run(tmp_path, tiny_cards, engine_env) -> None:
    from securitynet.store import Store

    db = tmp_path / "cli.sqlite"
    Store(str(db)).upsert_cards(tiny_cards)
    base = ["--db", str(db), "evaluate", "--models", "test/tiny_0,test/tiny_1", "--attacks", "test.probe",
            "--seeds", "2", "--no-progress"]
    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 models x 1 attacks x 2 seeds: 4 to run, 0 already in the store" in dry.output
    assert "test/tiny_1" in dry.output and "0, 1" in dry.output
    assert Store(str(db)).jobs_frame().empty  # a dry run writes nothing
    run = runner.invoke(app, base)
    assert run.exit_code == 0, run.output
    assert "4 done, 0 failed" in run.output
    again = runner.invoke(app, [*base, "--dry-run"])
    assert "0 to run, 4 already in the store" in again.output
    nothing = runner.invoke(app, base)
    assert nothing.exit_code == 0 and "nothing to run" in nothing.output


def test_evaluate_reports_failures_and_bad_input(tmp_path, tiny_cards, engine_env) -> None:
    from securitynet.store import Store

    db = tmp_path / "cli.sqlite"
    Store(str(db)).upsert_cards(tiny_cards)
    base = ["--db", str(db), "evaluate", "--models", "test/tiny_0", "--no-progress"]
    failing = runner.invoke(app, [*base, "--attacks", "test.probe", "--param", "test.probe.fail=true"])
    assert failing.exit_code == 1 and "probe asked to fail" in failing.output
    bad_param = runner.invoke(app, [*base, "--attacks", "test.probe", "--param", "test.probe.nope=1"])
    assert bad_param.exit_code == 1 and "takes a parameter 'nope'" in bad_param.output
    bad_attack = runner.invoke(app, [*base, "--attacks", "mia.nothing"])
    assert bad_attack.exit_code == 1 and "unknown attack 'mia.nothing'" in bad_attack.output
    no_model = runner.invoke(app, ["--db", str(db), "evaluate", "--models", "test/absent_*", "--attacks",
                                   "test.probe"])
    assert no_model.exit_code == 1 and "error" in no_model.output


def test_evaluate_threads_option_sets_and_records_the_thread_count(tmp_path, tiny_cards, engine_env) -> None:
    import torch

    from securitynet.store import Store

    db = tmp_path / "threads.sqlite"
    Store(str(db)).upsert_cards(tiny_cards)
    before = torch.get_num_threads()
    try:
        run = runner.invoke(app, ["--db", str(db), "evaluate", "--models", "test/tiny_0", "--attacks", "test.probe",
                                  "--threads", "1", "--no-progress"])
    finally:
        torch.set_num_threads(before)  # the CLI sets it for its process; this test process goes on
    assert run.exit_code == 0, run.output
    data = Store(str(db)).jobs_frame().data_json.iloc[0]
    data = json.loads(data) if isinstance(data, str) else data
    assert data["environment"]["torch_threads"] == 1
    bad = runner.invoke(app, ["--db", str(db), "evaluate", "--models", "test/tiny_0", "--attacks", "test.probe",
                              "--threads", "0"])
    assert bad.exit_code != 0 and "--threads" in bad.output
