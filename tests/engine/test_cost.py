"""The cost estimate: the log-log line between the reference models, the table's errors, `--dry-run --cost`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.engine import cost
from securitynet.engine.cost import CostTable, CostTableError, estimate_plan

SMALL, LARGE = 1_000_000, 100_000_000  # the two reference models' multiply-accumulates per image


def table(attacks: dict[str, dict[str, dict[str, float]]], load: tuple[float, float] = (1.0, 4.0)) -> CostTable:
    return CostTable(calibration=0.5, references={"small": {"macs": SMALL}, "large": {"macs": LARGE}},
                     load={"small": load[0], "large": load[1]}, attacks=attacks, measured={"date": "2026-12-03"})


def test_seconds_follow_the_log_log_line_between_the_references() -> None:
    t = table({"a": {"small": {"seconds": 2.0}, "large": {"seconds": 20.0}}})
    assert t.attack_seconds("a", SMALL) == pytest.approx(2.0)
    assert t.attack_seconds("a", LARGE) == pytest.approx(20.0)
    assert t.attack_seconds("a", 10_000_000) == pytest.approx(2.0 * math.sqrt(10))  # halfway on the log scale
    assert t.attack_seconds("a", 10 * LARGE) == pytest.approx(20.0 * 10 ** 0.5)  # the same slope beyond
    assert t.attack_seconds("a", None) == pytest.approx(20.0)  # an unsized model: the larger reference
    assert t.attack_seconds("unknown", SMALL) is None


def test_an_attack_never_gets_cheaper_on_a_larger_model_nor_more_than_linear() -> None:
    cheaper = table({"a": {"small": {"seconds": 5.0}, "large": {"seconds": 3.0}}})
    assert cheaper.attack_seconds("a", 10 * LARGE) == pytest.approx(5.0)
    steep = table({"a": {"small": {"seconds": 1.0}, "large": {"seconds": 1000.0}}})  # slope 1.5 measured
    assert steep.attack_seconds("a", LARGE) == pytest.approx(100.0)  # clipped to linear in the model's size
    only_one = table({"a": {"small": {"seconds": 7.0}}})
    assert only_one.attack_seconds("a", LARGE) == pytest.approx(7.0)


def test_an_attacks_own_caches_are_paid_once_per_dataset(tiny_cards, monkeypatch: pytest.MonkeyPatch) -> None:
    from securitynet.engine.plan import build_plan

    plan = build_plan(tiny_cards, ["test.probe"], seeds=1)
    monkeypatch.setattr(cost, "_cached_macs", lambda card: SMALL)
    t = table({"test.probe": {"small": {"seconds": 2.0, "first_seconds": 50.0}}})
    estimate = estimate_plan(plan, t, speed_factor=1.0)
    assert estimate.rows[0]["seconds"] == pytest.approx(3 * 2.0 + 50.0)  # three models, one dataset


def test_an_attacks_own_caches_cost_no_more_on_a_model_beyond_the_larger_reference() -> None:
    t = table({"a": {"small": {"seconds": 1.0, "first_seconds": 10.0},
                     "large": {"seconds": 10.0, "first_seconds": 40.0}}})
    assert t.attack_first_seconds("a", 10_000_000) == pytest.approx(20.0)  # on the line between the two
    assert t.attack_first_seconds("a", 100 * LARGE) == pytest.approx(40.0)  # the fallback models: capped
    assert t.attack_seconds("a", 100 * LARGE) == pytest.approx(100.0)  # the attack itself still grows


def test_a_missing_or_malformed_table_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CostTableError, match="run benchmarks/costs.py"):
        CostTable.read(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"calibration": {}}))
    with pytest.raises(CostTableError, match="malformed"):
        CostTable.read(bad)


def test_the_shipped_table_is_readable_and_covers_every_attack() -> None:
    from securitynet.attacks import list_attacks

    shipped = CostTable.read()
    builtin = {cls.name for cls in list_attacks() if cls.__module__.startswith("securitynet.")}
    assert builtin <= set(shipped.attacks), f"not measured: {sorted(builtin - set(shipped.attacks))}"
    assert all(ref["macs"] > 0 for ref in shipped.references.values())


def test_estimate_sums_load_per_model_and_seconds_per_job(tiny_cards, monkeypatch: pytest.MonkeyPatch) -> None:
    from securitynet.engine.plan import build_plan

    plan = build_plan(tiny_cards[:2], ["test.probe", "mia.correctness"], seeds=2)
    monkeypatch.setattr(cost, "_cached_macs", lambda card: SMALL)
    t = table({"test.probe": {"small": {"seconds": 3.0, "peak_rss_mib": 500.0}}})
    estimate = estimate_plan(plan, t, speed_factor=2.0)  # this machine half as fast as the measured one
    rows = {row["attack"]: row for row in estimate.rows}
    assert rows["test.probe"]["jobs"] == 4 and rows["test.probe"]["seconds"] == pytest.approx(4 * 3.0 * 2)
    assert rows["mia.correctness"]["seconds"] is None and estimate.unmeasured_attacks == ["mia.correctness"]
    assert estimate.one_reference_attacks == ["test.probe"]  # measured on the small reference only
    assert estimate.load_seconds == pytest.approx(2 * 1.0 * 2)
    assert estimate.total_seconds == pytest.approx(24.0 + 4.0)
    assert estimate.with_workers(2) == pytest.approx(14.0)


def test_dry_run_cost_prints_the_estimate(tmp_path: Path, tiny_cards, monkeypatch: pytest.MonkeyPatch) -> None:
    from securitynet.store import Store

    path = tmp_path / "costs.json"
    path.write_text(json.dumps({
        "calibration": {"seconds": cost.calibration_seconds()}, "measured": {"date": "2026-12-03"},
        "references": {"small": {"macs": SMALL}, "large": {"macs": LARGE}},
        "load": {"small": {"seconds": 1.0}, "large": {"seconds": 2.0}},
        "attacks": {"test.probe": {"small": {"seconds": 30.0, "peak_rss_mib": 400}}}}))
    monkeypatch.setattr(cost, "COST_TABLE", path)
    db = tmp_path / "cli.sqlite"
    Store(str(db)).upsert_cards(tiny_cards)
    base = ["--db", str(db), "evaluate", "--models", "test/tiny_0,test/tiny_1", "--attacks", "test.probe",
            "--dry-run", "--cost"]
    shown = CliRunner().invoke(app, base)
    assert shown.exit_code == 0, shown.output
    assert "test.probe" in shown.output and "estimated time:" in shown.output
    as_json = CliRunner().invoke(app, [*base, "--format", "json"])
    data = json.loads(as_json.stdout[as_json.stdout.index("{"):])
    assert data["attacks"][0]["jobs"] == 2 and data["total_seconds"] > 60 * data["speed_factor"]
    alone = CliRunner().invoke(app, base[:-2] + ["--cost"])
    assert alone.exit_code != 0 and "--cost goes with --dry-run" in alone.output
