"""Annotation: what a model does on the data it was trained on and on held-out data.

For each model: `train_accuracy` on the member pool (the split the card says it was trained on),
`test_accuracy` on the dataset's test split, `overfit_gap` = train - test, the number of classes seen in
its output, and the training-set size from its card. Results are stored as one job per model
(attack "annotation") with the splits, their sizes and fingerprints, and the weight hash, so each number
can be traced to the exact images and weights behind it; they are shown beside the published values.

When the full training split is absent (MNIST without its 60k training file), the member pool falls back
to a subset of the training split that is present (MNIST: the 5,000-image `train_subset_5k`); the
split used is recorded with every result.
"""

from __future__ import annotations

import math
import platform
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from securitynet.catalog.card import ModelCard
from securitynet.errors import DatasetError, SecurityNetError
from securitynet.store import JobRecord, Store
from securitynet.version import __version__

ANNOTATION_ATTACK = "annotation"
ANNOTATION_VERSION = "2"  # 2: subset-trained models use only their training images as members
ANNOTATION_METRICS = ("train_accuracy", "test_accuracy", "overfit_gap", "num_classes", "train_size")
# A capped split is a seeded random subset (not the first images: some files are sorted by class).
SUBSET_SEED = 0

BatchCallback = Callable[[int], None]


@dataclass(frozen=True)
class ResolvedSplits:
    """The images an annotation uses, and why these."""

    member: Any  # ArraySplit
    test: Any  # ArraySplit
    member_note: str
    max_images: int | None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dataset": self.member.dataset,
            "member_split": self.member.split,
            "test_split": self.test.split,
            "n_member": len(self.member),
            "n_test": len(self.test),
            "max_images": self.max_images,
        }
        if self.max_images is not None:
            params["subset_seed"] = SUBSET_SEED
        return params

    def data(self) -> dict[str, Any]:
        return {
            "dataset": self.member.dataset,
            "splits": {
                "member": {"split": self.member.split, "n": len(self.member),
                           "fingerprint": self.member.fingerprint(), "source": self.member.source},
                "test": {"split": self.test.split, "n": len(self.test),
                         "fingerprint": self.test.fingerprint(), "source": self.test.source},
            },
            "n_images": len(self.member) + len(self.test),
            "member_pool": self.member_note,
        }


def _member(card: ModelCard, info: Any, requested: str | None) -> tuple[Any, str]:
    """The member pool and why: the card's training split, or the data's best stand-in for it."""
    from securitynet.data import load_split, resolve_member_split

    if requested:
        return load_split(info, requested), f"{requested} (chosen explicitly)"
    if card.training_indices is not None:
        # A model trained on part of a split: only those images are members; the rest of the split
        # would dilute its train accuracy towards its test accuracy.
        from securitynet.zoo.selftrained import training_examples

        pool = training_examples(card)
        return pool, f"the {len(pool)} images of {card.training_split!r} the model was trained on"
    wanted = card.training_split or (info.member_splits[0] if info.member_splits else None)
    if wanted is None:
        raise DatasetError(f"model {card.id}: neither its card nor dataset {info.name} names a training split")
    if info.member_splits and wanted == info.member_splits[0]:
        # The full training split may be absent (MNIST's 60k file); the data layer picks a present subset.
        split, reason = resolve_member_split(info)
        if split is None:
            raise DatasetError(f"model {card.id}: {reason}")
        return load_split(info, split), reason
    return load_split(info, wanted), f"{wanted!r} is the split the card says the model was trained on"


def _test(info: Any, requested: str | None) -> Any:
    from securitynet.data import load_split

    if requested:
        return load_split(info, requested)
    if "test" in info.splits:
        return load_split(info, "test")
    if info.nonmember_split is None:
        raise DatasetError(f"dataset {info.name} has neither a 'test' nor a held-out split")
    return load_split(info, info.nonmember_split)


def _cap(split: Any, max_images: int | None) -> Any:
    if max_images is None or len(split) <= max_images:
        return split
    rng = np.random.default_rng(SUBSET_SEED)
    return split.subset(np.sort(rng.choice(len(split), size=max_images, replace=False)))


def resolve_splits(
    card: ModelCard,
    *,
    member_split: str | None = None,
    test_split: str | None = None,
    max_images: int | None = None,
) -> ResolvedSplits:
    """Choose and load the member pool and the test split for a card (explicit names win)."""
    from securitynet.data import get_dataset

    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be positive, got {max_images}")
    info = get_dataset(card.dataset)
    member, note = _member(card, info, member_split)
    test = _test(info, test_split)
    if member.split == test.split:
        raise DatasetError(f"member pool and test split of {card.id} are both {member.split!r}")
    return ResolvedSplits(_cap(member, max_images), _cap(test, max_images), note, max_images)


def _accuracy(target: Any, split: Any, on_batch: BatchCallback | None, batch_size: int) -> tuple[float, int]:
    """Top-1 accuracy and the number of output columns; labels are single class indices."""
    if split.labels.ndim != 1:
        raise DatasetError(f"{split.dataset}/{split.split} is multi-label; top-1 accuracy is undefined")
    correct = 0
    width = None
    for start in range(0, len(split), batch_size):
        probs = target.predict_proba(split.images[start : start + batch_size])
        width = probs.shape[1]
        correct += int((probs.argmax(axis=1) == split.labels[start : start + batch_size]).sum())
        if on_batch is not None:
            on_batch(len(probs))
    if width is None:
        raise DatasetError(f"{split.dataset}/{split.split} holds no images")
    return correct / len(split), int(width)


def annotate(
    target: Any,
    *,
    member_split: str | None = None,
    test_split: str | None = None,
    max_images: int | None = None,
    splits: ResolvedSplits | None = None,
    on_batch: BatchCallback | None = None,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Measure one TargetModel. Returns metrics, missing reasons, params and data provenance.

    `splits` (from `resolve_splits`) lets a caller reuse loaded data; otherwise they are resolved here.
    Accuracies are fractions in [0, 1].
    """
    card: ModelCard = target.card
    if splits is None:
        splits = resolve_splits(card, member_split=member_split, test_split=test_split, max_images=max_images)
    train_accuracy, train_width = _accuracy(target, splits.member, on_batch, batch_size)
    test_accuracy, test_width = _accuracy(target, splits.test, on_batch, batch_size)
    if train_width != test_width:
        raise SecurityNetError(f"model {card.id} returned {train_width} and {test_width} outputs on two splits")
    missing: dict[str, str] = {}
    if card.train_size is None:
        missing["train_size"] = card.missing_reasons.get("train_size", "training-set size unknown (not on the card)")
    return {
        "model_id": card.id,
        "weight_hash": target.weight_hash,
        "metrics": {
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "overfit_gap": train_accuracy - test_accuracy,
            "num_classes": float(train_width),
            "train_size": None if card.train_size is None else float(card.train_size),
        },
        "missing_reasons": missing,
        "params": splits.params(),
        "data": {**splits.data(), "weight_hash": target.weight_hash},
    }


# --- many models, stored ----------------------------------------------------------------------------


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


def _ensure_card_stored(store: Store, card: ModelCard) -> None:
    """Results join the models table; a built-in card enters the store on first use (never overwritten)."""
    from securitynet.errors import UnknownModelError

    try:
        store.get_card(card.id)
    except UnknownModelError:
        store.upsert_card(card)


def published_values(card: ModelCard, store: Store | None) -> tuple[dict[str, float | None], str | None]:
    """Published train/test/gap: the card's own values, completed by published result rows in the store."""
    names = ("train_accuracy", "test_accuracy", "overfit_gap")
    values: dict[str, float | None] = {name: getattr(card.published, name) for name in names}
    sources = [card.published.source] if any(v is not None for v in values.values()) else []
    if store is not None and any(v is None for v in values.values()):
        frame = store.results_frame(model_ids=[card.id])
        frame = frame[(frame.origin != "measured") & frame.metric.isin(names) & frame.value.notna()]
        for row in frame.itertuples():
            if values.get(row.metric) is None:
                values[row.metric] = float(row.value)
                sources.append(str(row.origin))
    return values, "; ".join(dict.fromkeys(s for s in sources if s)) or None


def _stored_metrics(store: Store, key: str) -> dict[str, float | None]:
    import sqlalchemy as sa

    from securitynet.store import schema

    j, r = schema.jobs.c, schema.results.c
    stmt = sa.select(r.metric, r.value).select_from(
        schema.results.join(schema.jobs, r.job_id == j.id)).where(j.job_key == key)
    with store.engine.connect() as conn:
        return {metric: value for metric, value in conn.execute(stmt)}


def annotate_models(
    cards: Iterable[ModelCard],
    store: Store,
    *,
    member_split: str | None = None,
    test_split: str | None = None,
    max_images: int | None = None,
    device: str | None = None,
    force: bool = False,
    run_id: str | None = None,
    console: Any = None,
    show: bool = True,
) -> list[AnnotationRow]:
    """Annotate each card's model and store the results; a failing model is recorded and the rest go on.

    A model whose annotation with the same weights, splits and sizes is already stored is skipped
    (its stored values are shown) unless `force`.
    """
    from securitynet.progress import ProgressDisplay
    from securitynet.zoo.devices import resolve_device
    from securitynet.zoo.loader import load_target

    resolved = resolve_device(device)  # an unusable device is one error here, not a failure per model
    cards = list(cards)
    rows: list[AnnotationRow] = []
    with ProgressDisplay(len(cards), "annotating", console=console, transient=True, enabled=show) as progress:
        for card in cards:
            progress.working_on(card.id)
            clock = time.perf_counter()
            row = _annotate_one(card, store, progress, load_target, member_split=member_split, test_split=test_split,
                                max_images=max_images, device=resolved, force=force, run_id=run_id)
            rows.append(row)
            progress.finished(f"{card.id} annotation", error=row.error, seconds=time.perf_counter() - clock,
                              detail="(already stored)" if row.status == "skipped" else "")
    if show:
        print_annotation(rows, console)
    return rows


def _annotate_one(card: ModelCard, store: Store, progress: Any, load_target: Any,
                  **options: Any) -> AnnotationRow:
    from securitynet.zoo.devices import device_label

    published, published_source = published_values(card, store)
    started = datetime.now(UTC)
    requested = {k: options[k] for k in ("member_split", "test_split", "max_images")}
    splits: ResolvedSplits | None = None
    weight_hash = card.weight_hash
    device_name: str | None = device_label(options["device"])
    try:
        _ensure_card_stored(store, card)
        splits = resolve_splits(card, **requested)
        key = JobRecord(model_id=card.id, weight_hash=weight_hash, attack=ANNOTATION_ATTACK,
                        attack_version=ANNOTATION_VERSION, params=splits.params(), seed=None).key
        if weight_hash and not options["force"] and key in store.finished_keys([key]):
            return AnnotationRow(card, "skipped", _stored_metrics(store, key), splits.member.split,
                                 len(splits.member), len(splits.test), published=published,
                                 published_source=published_source)
        target = load_target(card, store=store, device=options["device"])
        weight_hash = target.weight_hash
        device_name = device_label(target.device)
        images = progress.add_row(f"  {card.id}: images", len(splits.member) + len(splits.test))
        result = annotate(target, splits=splits, on_batch=lambda n: progress.update_row(images, advance=n))
        progress.remove_row(images)
    except Exception as exc:  # noqa: BLE001 - any failure of one model is recorded, never fatal to the run
        # One broken model must not stop the others; its failure is stored so a rerun retries it.
        error = f"{type(exc).__name__}: {exc}"
        # A clean SecurityNetError says all there is; anything else keeps its traceback for debugging.
        detail = error if isinstance(exc, SecurityNetError) else f"{error}\n{traceback.format_exc()}"
        store.record_job(JobRecord(
            model_id=card.id, weight_hash=weight_hash, attack=ANNOTATION_ATTACK, attack_version=ANNOTATION_VERSION,
            params=splits.params() if splits is not None else {"requested": requested}, seed=None,
            status="failed", error=detail,
            run_id=options["run_id"], software_version=__version__, device=device_name,
            started_at=started, finished_at=datetime.now(UTC),
        ))
        return AnnotationRow(card, "failed", {}, error=error, published=published, published_source=published_source)
    store.record_job(JobRecord(
        model_id=card.id, weight_hash=result["weight_hash"], attack=ANNOTATION_ATTACK,
        attack_version=ANNOTATION_VERSION, params=result["params"], seed=None, metrics=result["metrics"],
        missing_reasons=result["missing_reasons"], data={**result["data"], "host": platform.node()},
        run_id=options["run_id"], software_version=__version__, device=device_name,
        started_at=started, finished_at=datetime.now(UTC),
    ))
    return AnnotationRow(card, "done", result["metrics"], splits.member.split, len(splits.member),
                         len(splits.test), published=published, published_source=published_source)


# --- display -----------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def _delta(measured: float | None, published: float | None) -> str:
    if measured is None or published is None:
        return "-"
    return f"{100 * (measured - published):+.2f}"


def _cell(measured: float | None, published: float | None) -> str:
    """The measured value, and under it the published one when there is one."""
    if published is None:
        return _pct(measured)
    return f"{_pct(measured)}\n({_pct(published)})"


def annotation_table(rows: Sequence[AnnotationRow], width: int = 80) -> Any:
    """A table fitted to ``width``: measured values (in %) with the published ones under them, the test difference."""
    from securitynet.cli.output import Column, render_table

    columns = [Column("model", kind="id"), Column("pool", "member pool"), Column("train"), Column("test"),
               Column("gap"), Column("delta", "Δ test"), Column("classes", kind="int"), Column("size", "n train",
                                                                                              kind="int")]
    records = []
    for row in rows:
        m, p = row.metrics, row.published or {}
        records.append({
            # A failed model is marked; its error is printed under the table (too long for a cell).
            "model": row.card.id + (" (failed)" if row.status == "failed" else ""),
            "pool": None if row.member_split is None else f"{row.member_split} ({row.n_member})",
            "train": _cell(m.get("train_accuracy"), p.get("train_accuracy")),
            "test": _cell(m.get("test_accuracy"), p.get("test_accuracy")),
            "gap": _cell(m.get("overfit_gap"), p.get("overfit_gap")),
            "delta": _delta(m.get("test_accuracy"), p.get("test_accuracy")),
            "classes": m.get("num_classes"), "size": m.get("train_size"),
        })
    return render_table(records, columns, width=width,
                        title="Annotation: accuracy in %, (published) under measured, Δ in points")


def print_annotation(rows: Sequence[AnnotationRow], console: Any = None) -> None:
    """The table, then each failure in full (errors are too long for a table cell)."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    console.print(annotation_table(rows, width=console.width))
    for row in rows:
        if row.error:
            console.print(f"[red]{escape(row.card.id)} failed:[/] {escape(row.error.splitlines()[0])}")
    sources = sorted({row.published_source for row in rows if row.published_source})
    if sources:
        console.print(f"[dim]published values from: {escape('; '.join(sources))}[/]")
