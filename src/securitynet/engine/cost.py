"""What a run will cost before it starts: seconds per job from the measured cost table, scaled to the models.

`benchmarks/costs.py` measures every attack at its default parameters on two reference models, a LeNet-5
on MNIST and a CIFAR-10 ResNet-20 (41 M multiply-accumulates per image), and writes `engine/costs.json`. A
job's estimate interpolates between the two on a log-log line through the model's multiply-accumulates per
image (`zoo/macs.py`, sized on the meta device), so a model ten times a ResNet-20 costs what the line
says rather than what either reference does. Times are single-thread CPU seconds (what a busy machine
hardly changes), kept in units of a calibration workload measured beside each figure; the estimate times the
same workload now on the wall clock, so a slower or busier machine gets a longer estimate.
It is an estimate: within a factor of two on the run it was checked on (benchmarks/README.md).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securitynet.catalog.card import ModelCard
from securitynet.errors import SecurityNetError

COST_TABLE = Path(__file__).with_name("costs.json")


class CostTableError(SecurityNetError):
    """The cost table is missing, malformed, or has no figure for what was asked."""


def calibration_seconds(repeats: int = 9, *, clock: str = "wall") -> float:
    """Seconds of a fixed convolution workload on one thread now (the median of ``repeats``).

    ``clock="cpu"``: the process's CPU seconds, which a busy machine hardly changes (how the table is kept);
    ``"wall"``: what a run waits, load included (how an estimate is scaled). The median, not the fastest: on a
    shared machine the estimate should see the load the run will see.
    """
    import statistics

    import torch

    generator = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10),
    ).eval()
    images = torch.rand(128, 3, 32, 32, generator=generator)
    timer = time.process_time if clock == "cpu" else time.perf_counter
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    try:
        with torch.inference_mode():
            net(images[:8])  # first call pays for kernel selection
            for _ in range(repeats):
                start = timer()
                net(images)
                times.append(timer() - start)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times)


@dataclass(frozen=True)
class CostTable:
    """Measured seconds (in calibration units) and peak memory per attack on the reference models."""

    calibration: float  # CPU seconds of `calibration_seconds()` on the machine the figures were measured on
    references: dict[str, dict[str, Any]]  # name -> {"card", "macs", ...}
    load: dict[str, float]  # reference -> seconds to load the model and its data once
    attacks: dict[str, dict[str, dict[str, float]]]  # attack -> reference -> {"seconds", "peak_rss_mib"}
    measured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path | None = None) -> CostTable:
        path = path or COST_TABLE
        try:
            data = json.loads(path.read_text())
            return cls(calibration=float(data["calibration"]["seconds"]), references=data["references"],
                       load={k: float(v["seconds"]) for k, v in data["load"].items()},
                       attacks=data["attacks"], measured=data.get("measured", {}))
        except FileNotFoundError:
            raise CostTableError(f"no cost table at {path}: run benchmarks/costs.py to measure one") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CostTableError(f"cost table {path} is malformed: {exc!r}") from None

    def _points(self, figures: dict[str, float]) -> list[tuple[float, float]]:
        """(MACs, seconds) of the references that have a figure, smallest model first."""
        points = [(float(self.references[ref]["macs"]), float(figures[ref]))
                  for ref in self.references if figures.get(ref) is not None]
        return sorted(points)

    def seconds(self, figures: dict[str, float], macs: int | None) -> float:
        """Calibration-unit seconds at ``macs`` on the log-log line through the reference points."""
        points = self._points(figures)
        if not points:
            raise CostTableError("no reference figure to estimate from")
        if len(points) == 1 or macs is None:
            return points[-1][1]  # unknown size: the larger reference, the safer guess
        (m1, s1), (m2, s2) = points[0], points[-1]
        # Slope clipped to [0, 1]: an attack never gets cheaper on a larger model, nor more than linear in it.
        slope = min(max(math.log(s2 / s1) / math.log(m2 / m1), 0.0), 1.0) if s1 > 0 and s2 > 0 else 0.0
        return s1 * (max(macs, 1) / m1) ** slope

    def attack_seconds(self, attack: str, macs: int | None) -> float | None:
        entry = self.attacks.get(attack)
        if not entry:
            return None
        return self.seconds({ref: fig.get("seconds") for ref, fig in entry.items()}, macs)

    def attack_first_seconds(self, attack: str, macs: int | None) -> float:
        """What the first model of a dataset pays on top: the attack's own caches (reference models, shadow zoo).

        Not extrapolated beyond the larger reference: those caches are models of the attack's own choosing
        (MNTD's shadow architectures; for a target above the membership attacks' ``reference_max_macs``, which
        the ResNet-20 already is, the small fallback CNN), so a larger target does not make them costlier.
        """
        entry = self.attacks.get(attack)
        if not entry or not any(fig.get("first_seconds") for fig in entry.values()):
            return 0.0
        largest = max(float(ref["macs"]) for ref in self.references.values())
        capped = None if macs is None else int(min(macs, largest))
        return self.seconds({ref: fig.get("first_seconds") or 0.0 for ref, fig in entry.items()}, capped)

    def attack_peak_mib(self, attack: str, macs: int | None) -> float | None:
        figures = {ref: fig.get("peak_rss_mib") for ref, fig in self.attacks.get(attack, {}).items()}
        if not any(value is not None for value in figures.values()):
            return None
        return self.seconds(figures, macs)  # the same line through the references, in MiB

    def load_seconds(self, macs: int | None) -> float:
        return self.seconds(self.load, macs)


_MACS: dict[tuple[Any, ...], int | None] = {}


def _cached_macs(card: ModelCard) -> int | None:
    """The card's size, computed once per architecture and input (many cards share one)."""
    from securitynet.zoo.macs import card_macs

    key = (card.architecture, json.dumps(card.arch_kwargs, sort_keys=True, default=str), card.num_classes,
           card.input.channels, tuple(card.input.size or ()))
    if key not in _MACS:
        _MACS[key] = card_macs(card)
    return _MACS[key]


@dataclass
class PlanCost:
    """A run's estimated seconds on this machine, per attack, with what the estimate rests on."""

    rows: list[dict[str, Any]]  # one per attack: attack, jobs, seconds_each, seconds, peak_rss_mib
    load_seconds: float
    total_seconds: float
    speed_factor: float  # this machine now / the machine of the table (calibration workload)
    unsized_models: list[str]
    unmeasured_attacks: list[str]
    basis: str
    one_reference_attacks: list[str] = field(default_factory=list)  # priced from one reference model only

    def with_workers(self, workers: int) -> float:
        """Wall seconds with ``workers`` models in parallel (jobs of one model run on one worker)."""
        return self.total_seconds / max(workers, 1)


def estimate_plan(plan: Any, table: CostTable | None = None, speed_factor: float | None = None) -> PlanCost:
    """Estimated seconds of the plan's pending jobs; ``speed_factor`` defaults to a calibration run now.

    The table holds single-thread CPU seconds; the factor turns them into the wall seconds one thread takes
    here now, load included. A run with more threads is faster where the work is parallel (convolutions),
    so the estimate leans long: at most by the number of cores, on this 2-core machine within a factor of 2.
    """
    table = table or CostTable.read()
    factor = speed_factor if speed_factor is not None else calibration_seconds(clock="wall") / table.calibration
    per_attack: dict[str, dict[str, Any]] = defaultdict(lambda: {"jobs": 0, "seconds": 0.0, "peak_rss_mib": None})
    unsized: list[str] = []
    unmeasured: set[str] = set()
    load = 0.0
    caches_paid: set[tuple[str, str]] = set()  # (attack, dataset) whose own caches this run builds once
    for group in plan.groups:
        macs = _cached_macs(group.card)
        if macs is None:
            unsized.append(group.card.id)
        load += table.load_seconds(macs) * factor
        for job in group.jobs:
            seconds = table.attack_seconds(job.attack, macs)
            row = per_attack[job.attack]
            row["jobs"] += 1
            if seconds is None:
                unmeasured.add(job.attack)
                continue
            row["seconds"] += seconds * factor
            if (job.attack, group.card.dataset) not in caches_paid:
                caches_paid.add((job.attack, group.card.dataset))
                row["seconds"] += table.attack_first_seconds(job.attack, macs) * factor
            peak = table.attack_peak_mib(job.attack, macs)
            row["peak_rss_mib"] = max(row["peak_rss_mib"] or 0.0, peak or 0.0) or None
    rows = [{"attack": attack, "jobs": row["jobs"],
             "seconds_each": None if attack in unmeasured else row["seconds"] / row["jobs"],
             "seconds": None if attack in unmeasured else row["seconds"], "peak_rss_mib": row["peak_rss_mib"]}
            for attack, row in sorted(per_attack.items())]
    total = load + sum(row["seconds"] or 0.0 for row in rows)
    basis = f"costs measured {table.measured.get('date', '?')} ({table.measured.get('command', 'benchmarks/costs.py')})"
    one_reference = sorted(attack for attack in per_attack
                           if attack not in unmeasured and len(table.attacks.get(attack, {})) < len(table.references))
    return PlanCost(rows=rows, load_seconds=load, total_seconds=total, speed_factor=factor,
                    unsized_models=unsized, unmeasured_attacks=sorted(unmeasured), basis=basis,
                    one_reference_attacks=one_reference)
