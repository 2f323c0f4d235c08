"""Annotating models: the ``annotation.accuracy`` job on each, run by the engine, beside the published values.

The measurement itself is an attack (`securitynet.attacks.annotation`); this module plans it for a list of
cards, runs it on any executor through `engine.run.execute_plan` (which skips jobs already stored, records
failures and shows the engine's progress) and gathers one `AnnotationRow` per model with the published
train/test accuracy and overfit gap beside the measured ones. The table is drawn by `securitynet.cli.annotate`.

``annotate`` measures one loaded model outside any run (notebooks, tests): same numbers, nothing stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from securitynet.attacks.annotation.accuracy import ANNOTATION_ATTACK, ANNOTATION_METRICS, AnnotationAccuracy
from securitynet.attacks.annotation.splits import resolve_splits
from securitynet.attacks.base import AttackResult
from securitynet.catalog.card import ModelCard

ANNOTATION_VERSION = AnnotationAccuracy.version
PUBLISHED_METRICS = ("train_accuracy", "test_accuracy", "overfit_gap")

__all__ = [
    "ANNOTATION_ATTACK", "ANNOTATION_METRICS", "ANNOTATION_VERSION", "AnnotationRow", "AnnotationRun", "annotate",
    "annotate_models", "published_values", "resolve_splits",
]


@dataclass
class AnnotationRow:
    """One model's outcome in an `annotate_models` call, for display and for callers."""

    card: ModelCard
    status: str  # done | failed | skipped (already stored)
    metrics: dict[str, float | None]
    member_split: str | None = None
    n_member: int | None = None
    n_test: int | None = None
    error: str | None = None
    published: dict[str, float | None] | None = None
    published_source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.card.id, "status": self.status, **self.metrics,
            "member_split": self.member_split, "n_member": self.n_member, "n_test": self.n_test,
            **{f"published_{k}": v for k, v in (self.published or {}).items()},
            "published_source": self.published_source, "error": self.error,
        }


@dataclass
class AnnotationRun:
    """The rows, in the order of the cards, and the engine's run they came from (None: nothing had to run)."""

    rows: list[AnnotationRow]
    run_id: str | None


def annotate(
    target: Any, *, member_split: str | None = None, test_split: str | None = None, max_images: int | None = None,
) -> AttackResult:
    """Measure one loaded `TargetModel` with a standalone context (posteriors cached in memory only)."""
    from securitynet.engine.access import view_for
    from securitynet.engine.cache import PosteriorCache
    from securitynet.engine.context import JobContext

    attack = AnnotationAccuracy({"member_split": member_split, "test_split": test_split, "max_images": max_images})
    ctx = JobContext.standalone(target.card, access=attack.access, device=target.device,
                                cache=PosteriorCache(disk=False))
    return attack.run(view_for(target, attack.access), ctx)


def published_values(card: ModelCard, store: Any | None) -> tuple[dict[str, float | None], str | None]:
    """Published train/test/gap: the card's own values, completed by published result rows in the store."""
    values: dict[str, float | None] = {name: getattr(card.published, name) for name in PUBLISHED_METRICS}
    sources = [card.published.source] if any(v is not None for v in values.values()) else []
    if store is not None and any(v is None for v in values.values()):
        frame = store.results_frame(model_ids=[card.id])
        frame = frame[(frame.origin != "measured") & frame.metric.isin(PUBLISHED_METRICS) & frame.value.notna()]
        for row in frame.itertuples():
            if values.get(row.metric) is None:
                values[row.metric] = float(row.value)
                sources.append(str(row.origin))
    return values, "; ".join(dict.fromkeys(s for s in sources if s)) or None


def annotate_models(
    cards: Iterable[ModelCard],
    store: Any,
    *,
    member_split: str | None = None,
    test_split: str | None = None,
    max_images: int | None = None,
    device: str | None = None,
    force: bool = False,
    executor: Any = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = False,
    console: Any = None,
    command: str | None = None,
) -> AnnotationRun:
    """Annotate each card's model through the engine; a failing model is recorded and the rest go on.

    A model whose annotation with the same weights and parameters is already stored is not measured again
    (its stored values are returned, status "skipped") unless ``force``. ``executor``: local, process, ray
    or an `Executor`; ``device``, ``workers`` and ``address`` as for `securitynet.evaluate`.
    """
    from securitynet.engine.plan import build_plan
    from securitynet.engine.run import execute_plan, plan_results

    requested = {"member_split": member_split, "test_split": test_split, "max_images": max_images}
    params = {ANNOTATION_ATTACK: {k: v for k, v in requested.items() if v is not None}}
    plan = build_plan(list(cards), [AnnotationAccuracy], seeds=[0], params=params, store=store, force=force)
    summary = execute_plan(plan, store, executor=executor, workers=workers, address=address, device=device,
                           progress=progress, console=console, command=command)
    stored = plan_results(store, plan)
    records = {record.model_id: record for record in summary.records}
    rows = []
    for card in plan.cards:  # every card has its job: annotation applies to any model
        published, published_source = published_values(card, store)
        record = records.get(card.id)
        if record is not None and record.status != "done":
            rows.append(AnnotationRow(card, "failed", {}, error=record.error, published=published,
                                      published_source=published_source))
            continue
        status = "done" if record is not None else "skipped"
        rows.append(_stored_row(card, status, stored[stored.model_id == card.id], published, published_source))
    return AnnotationRun(rows, summary.run_id if summary.records else None)


def _stored_row(card: ModelCard, status: str, frame: pd.DataFrame, published: dict[str, float | None],
                published_source: str | None) -> AnnotationRow:
    """A row from the stored results of the model's annotation job (one job: the plan has one per model)."""
    metrics = {str(m): (None if pd.isna(v) else float(v)) for m, v in zip(frame.metric, frame.value, strict=True)}
    data = frame.data_json.iloc[0] if len(frame) else {}
    resolved = ((data or {}).get("attack") or {}).get("resolved") or {}
    return AnnotationRow(card, status, metrics, resolved.get("member_split"), resolved.get("n_member"),
                         resolved.get("n_test"), published=published, published_source=published_source)
