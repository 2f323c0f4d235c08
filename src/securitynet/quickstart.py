"""The main job (`make run`): the whole SecurityNet loop on what this machine has, in a few minutes.

1. register the built-in catalog and the datasets; import the published SecurityNet table when present;
2. annotate the five public MNIST models when MNIST and their weights are reachable (offline: the
   `shared/data` folder beside the project serves as dataset root and weight mirror);
3. train (or reuse) the self-trained digits zoo, whose overfitting varies, and annotate it;
4. run the attack suites on both;
5. write the report.

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


@dataclass
class QuickstartState:
    store: Any
    console: Console
    public_cards: list[ModelCard] = field(default_factory=list)
    zoo_cards: list[ModelCard] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


def step_public_mnist(state: QuickstartState) -> None:
    from securitynet.annotation import annotate_models
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
    annotate_models(state.public_cards, state.store, console=state.console)


def step_digits_zoo(state: QuickstartState) -> None:
    from securitynet.annotation import annotate_models
    from securitynet.zoo.digits_zoo import build_digits_zoo

    state.console.rule("self-trained digits zoo")
    state.zoo_cards = build_digits_zoo(state.store, size="full", progress=True)
    annotate_models(state.zoo_cards, state.store, console=state.console)


STEPS: tuple[Step, ...] = (step_catalog, step_public_mnist, step_digits_zoo)


def run_quickstart(store: Any, console: Console | None = None, steps: tuple[Step, ...] = STEPS) -> QuickstartState:
    state = QuickstartState(store=store, console=console or Console())
    for step in steps:
        step(state)
    for note in state.notes:
        state.console.print(f"[yellow]note:[/] {note}")
    return state
