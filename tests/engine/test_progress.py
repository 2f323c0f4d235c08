"""Progress of a run: a line per finished job without a terminal; on a terminal, the bar names model and attack."""

from __future__ import annotations

import re
from io import StringIO

from rich.console import Console

from securitynet.engine.plan import build_plan
from securitynet.engine.progress import RunProgress
from securitynet.engine.run import execute_plan
from securitynet.engine.worker import JobFinished, ModelStarted, failed_record


def test_without_a_terminal_each_finished_job_prints_one_line(store, tiny_cards, engine_env) -> None:
    out = StringIO()
    plan = build_plan(tiny_cards[:2], "test.probe,test.probe2", store=store,
                      params={"test.probe2": {"fail": True}})
    execute_plan(plan, store, progress=True, console=Console(file=out, width=80))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines  # nothing else: no bar drawn at the end
    done = [line for line in lines if line.endswith("s") and " done " in line]
    failed = [line for line in lines if " failed: " in line]
    assert {line.split()[1] for line in lines} == {card.id for card in tiny_cards[:2]}
    assert all(re.fullmatch(r"\[[1-4]/4\] \S+ test\.probe done \d+\.\ds", line) for line in done) and len(done) == 2
    assert all(re.fullmatch(r"\[[1-4]/4\] \S+ test\.probe2 failed: RuntimeError: probe asked to fail", line)
               for line in failed) and len(failed) == 2
    assert [line.split()[0] for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]


def test_on_a_terminal_the_bar_names_the_model_and_the_attack_running_now(store, tiny_cards, engine_env) -> None:
    plan = build_plan(tiny_cards[:1], "test.probe,test.probe2", store=store)
    (group,) = plan.groups
    model = group.card.id
    console = Console(file=StringIO(), force_terminal=True, width=80)
    with RunProgress(plan.groups, console=console) as bar:
        bar.update(ModelStarted(model, len(group.jobs), "local"))
        assert bar.display.description() == f"jobs: {model} {group.jobs[0].attack}"
        bar.update(JobFinished(failed_record(group.jobs[0], _settings(), "boom")))
        assert bar.display.description() == f"jobs: {model} {group.jobs[1].attack}"
        assert bar.failed == 1
        console.file.truncate(0)
        bar.display._progress.refresh()
        shown = console.file.getvalue()
    assert f"{model} {group.jobs[1].attack}" in shown and "1/2" in shown and "1 failed" in shown


def _settings():
    from securitynet.engine.worker import RunSettings

    return RunSettings(run_id="test", software_version="0")
