"""The main job (`make run`): the whole SecurityNet loop on what this machine has, in a few minutes.

1. register the built-in catalog and the datasets; import the published SecurityNet table when present;
2. annotate the five public MNIST models when MNIST and their weights are reachable (offline: the
   `shared/data` folder beside the project serves as dataset root and weight mirror);
3. train (or reuse) the self-trained digits zoo, whose overfitting varies, and annotate it;
4. run the attack suites on both;
5. write the report;
6. print what was found (analysis/findings.py): the last lines of the run.

Every step stores its results in the database, so a second `make run` reuses them and is fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from securitynet import config
from securitynet.catalog.card import ModelCard

PUBLIC_MNIST_QUERY = "file/*"
LIRA_PREFIX = "mia.lira"
LIRA_ARCHITECTURE = "mlp"


@dataclass
class QuickstartTables:
    """How the job draws its tables, given by the command (`securitynet.cli.quickstart`): this module sits
    below the CLI and draws none itself. A table left None is not shown."""

    annotation: Callable[[list[Any], Console], None] | None = None  # AnnotationRows
    stealing: Callable[[dict[str, dict[str, dict[str, float]]], Console], None] | None = None  # stealing_summary


@dataclass
class QuickstartState:
    store: Any
    console: Console
    tables: QuickstartTables = field(default_factory=QuickstartTables)
    public_cards: list[ModelCard] = field(default_factory=list)
    zoo_cards: list[ModelCard] = field(default_factory=list)
    backdoor_ids: list[str] = field(default_factory=list)
    report: Path | None = None
    notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


Step = Callable[[QuickstartState], None]


def use_shared_mirror() -> Path | None:
    """Offline: serve the public MNIST weights from the shared data folder, when it exists."""
    shared = config.shared_data_dir()
    if shared is None:
        return None
    mirror = shared / "models" / "mnist"
    if mirror.is_dir():
        existing = os.environ.get("SECURITYNET_MIRROR", "")
        if str(mirror) not in existing.split(os.pathsep):
            os.environ["SECURITYNET_MIRROR"] = os.pathsep.join(p for p in (existing, str(mirror)) if p)
        return mirror
    return None


def step_catalog(state: QuickstartState) -> None:
    from securitynet.catalog.builtin import register_builtin_cards
    from securitynet.data import dataset_record, list_datasets

    count = register_builtin_cards(state.store)
    for info in list_datasets():
        state.store.upsert_dataset(dataset_record(info))
    state.console.print(f"catalog: {count} built-in model cards registered")
    shared = config.shared_data_dir()
    table = None if shared is None else shared / "reference" / "securitynet_database_README.md"
    if table is not None and table.is_file():
        from securitynet.catalog.sources.published import import_securitynet_database

        report = import_securitynet_database(table, state.store)
        state.console.print(f"catalog: published SecurityNet table imported ({report.cards} model cards)")


def annotate_and_show(state: QuickstartState, cards: list[ModelCard]) -> None:
    """The `annotation.accuracy` job on each model through the engine, then the published-vs-measured table."""
    from securitynet.annotation import annotate_models

    run = annotate_models(cards, state.store, progress=True, console=state.console,
                          command=f"securitynet quickstart (pid {os.getpid()})")
    if state.tables.annotation is not None:
        state.tables.annotation(run.rows, state.console)
    for row in run.rows:
        if row.status == "failed":
            state.notes.append(f"annotation.accuracy on {row.card.id} failed: {row.error}")


def step_public_mnist(state: QuickstartState) -> None:
    from securitynet.catalog.query import select_cards
    from securitynet.data import get_dataset, locate_split
    from securitynet.errors import DatasetError

    use_shared_mirror()
    try:
        locate_split(get_dataset("mnist"), "test")
    except DatasetError as exc:  # absent data is expected on a bare machine: say so and go on
        state.notes.append(f"public MNIST models skipped: MNIST test set not found ({exc})")
        return
    state.public_cards = select_cards(PUBLIC_MNIST_QUERY, state.store)
    state.console.rule("annotation: public MNIST models")
    annotate_and_show(state, state.public_cards)


def step_digits_zoo(state: QuickstartState) -> None:
    from securitynet.zoo.digits_zoo import build_digits_zoo

    state.console.rule("self-trained digits zoo")
    state.zoo_cards = build_digits_zoo(state.store, size="full", progress=True)
    annotate_and_show(state, state.zoo_cards)


def evaluate_pairs(state: QuickstartState, models: list[str], pairs: list[tuple[str, dict[str, Any]]],
                   title: str) -> None:
    """Run (attack, params) pairs on models through the engine; finished jobs in the store are reused.

    The engine takes one parameter set per attack name and call, so pairs are run in rounds: round k
    holds the k-th parameter set of every attack.
    """
    from securitynet.engine.run import evaluate

    if not models or not pairs:
        return
    rounds: list[dict[str, dict[str, Any]]] = []
    for name, params in pairs:
        for round_params in rounds:
            if name not in round_params:
                round_params[name] = params
                break
        else:
            rounds.append({name: params})
    state.console.rule(title)
    failed: list[dict[str, Any]] = []
    for round_params in rounds:
        frame = evaluate(models, list(round_params), params=round_params, store=state.store, progress=True)
        failed.extend(frame.attrs.get("failed", []))
    for failure in failed:
        state.notes.append(f"{failure['attack']} on {failure['model_id']} failed: {failure['error']}")


def _model_ids(state: QuickstartState) -> list[str]:
    return [card.id for card in state.public_cards + state.zoo_cards]


def step_membership(state: QuickstartState) -> None:
    from securitynet.attacks.membership.quickstart import membership_quickstart_attacks

    # Shadow and reference models of the digits zoo train in seconds; the public models' do not.
    # LiRA trains its reference models with each target's own recipe (up to 300 epochs), so within a few
    # minutes it runs on the MLP family of the zoo only: four models spanning gaps from 2 to 14 points.
    pairs = membership_quickstart_attacks(train_models=True)
    reference_free = [(name, params) for name, params in pairs if not name.startswith(LIRA_PREFIX)]
    lira = [(name, params) for name, params in pairs if name.startswith(LIRA_PREFIX)]
    zoo_ids = [c.id for c in state.zoo_cards]
    evaluate_pairs(state, zoo_ids, reference_free, "membership inference: digits zoo")
    lira_ids = [c.id for c in state.zoo_cards if c.architecture == LIRA_ARCHITECTURE]
    evaluate_pairs(state, lira_ids, lira, f"membership inference: LiRA on the {LIRA_ARCHITECTURE} models of the zoo")
    evaluate_pairs(state, [c.id for c in state.public_cards], membership_quickstart_attacks(train_models=False),
                   "membership inference: public MNIST models")


def step_stealing(state: QuickstartState) -> None:
    from securitynet.attacks.stealing import ATTACK, QUICKSTART_COMMON, stealing_quickstart_attacks

    models = _model_ids(state)
    evaluate_pairs(state, models, stealing_quickstart_attacks(), "model stealing")
    summary = stealing_summary(state.store.results_frame(model_ids=models, attack_like=ATTACK), QUICKSTART_COMMON)
    if summary and state.tables.stealing is not None:
        state.tables.stealing(summary, state.console)


def stealing_summary(frame: Any, common: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {query set: {metric: value}}} of the stored stealing results run with the ``common`` params."""
    import json

    summary: dict[str, dict[str, dict[str, float]]] = {}
    if frame is None or frame.empty:
        return summary
    for row in frame.itertuples():
        params = json.loads(row.params_json) if isinstance(row.params_json, str) else row.params_json
        if any(params.get(key) != value for key, value in common.items()):
            continue
        if row.metric in ("agreement", "accuracy", "target_accuracy", "queries"):
            query_set = params.get("query_set", "in-distribution")
            summary.setdefault(row.model_id, {}).setdefault(query_set, {})[row.metric] = row.value
    return summary


def step_backdoor(state: QuickstartState) -> None:
    from securitynet.attacks.backdoor.quickstart import backdoor_quickstart

    state.console.rule("backdoor detection: trojaned zoo and public models")
    plan = backdoor_quickstart(state.store, small=True)
    state.backdoor_ids = plan.models
    pairs = [(name, plan.params.get(name, {})) for name in plan.attacks]
    evaluate_pairs(state, plan.models, pairs, "backdoor detectors")


def step_report(state: QuickstartState) -> None:
    from securitynet.analysis.report import write_quickstart_report
    from securitynet.catalog.sources.benchmark_layout import BENCHMARK_LAYOUT

    state.console.rule("report")
    state.report = write_quickstart_report(state.store, config.home_dir() / "report", BENCHMARK_LAYOUT,
                                           console=state.console)


def step_findings(state: QuickstartState) -> None:
    """What the run found, from the store: printed last, after any notes."""
    from securitynet.analysis.findings import quickstart_findings
    from securitynet.attacks.backdoor.quickstart import PUBLIC_MNIST_IDS

    models = dict.fromkeys([*_model_ids(state), *state.backdoor_ids])
    public = [model_id for model_id in PUBLIC_MNIST_IDS if model_id in models]
    state.findings = quickstart_findings(state.store, models, public, state.report)


STEPS: tuple[Step, ...] = (
    step_catalog,
    step_public_mnist,
    step_digits_zoo,
    step_membership,
    step_stealing,
    step_backdoor,
    step_report,
    step_findings,
)


def run_quickstart(store: Any, console: Console | None = None, steps: tuple[Step, ...] = STEPS,
                   tables: QuickstartTables | None = None) -> QuickstartState:
    state = QuickstartState(store=store, console=console or Console(), tables=tables or QuickstartTables())
    for step in steps:
        step(state)
    for note in state.notes:
        state.console.print(f"[yellow]note:[/] {note}")
    if state.findings:
        state.console.rule("findings")
        for line in state.findings:
            state.console.print(line, highlight=False, markup=False)
    return state
