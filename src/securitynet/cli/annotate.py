"""`securitynet annotate QUERY...`: measure train/test accuracy and overfit gap, store them, show them."""

from __future__ import annotations

import os
import platform
import shlex
import sys
import uuid
from collections import Counter

import typer

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit
from securitynet.version import __version__

# JSON / CSV: every value of AnnotationRow.as_dict, published beside measured.
ANNOTATION_COLUMNS = [Column(key) for key in (
    "model_id", "status", "train_accuracy", "published_train_accuracy", "test_accuracy", "published_test_accuracy",
    "overfit_gap", "published_overfit_gap", "num_classes", "train_size", "member_split", "n_member", "n_test",
    "published_source", "error",
)]


def register(app: typer.Typer) -> None:
    app.command("annotate")(annotate_command)


@clean_errors
def annotate_command(
    query: list[str] = typer.Argument(
        ..., help="Card ids, globs ('file/*') or key=value filters ('dataset=mnist purpose=security')."
    ),
    member_split: str = typer.Option(None, help="Member pool split (default: the card's training split)."),
    test_split: str = typer.Option(None, help="Held-out split (default: the dataset's test split)."),
    max_images: int = typer.Option(
        None, min=1, help="Use at most this many images per split (a seeded random subset)."
    ),
    device: str = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available, else cpu)."),
    force: bool = typer.Option(False, "--force", help="Measure again even when the same job is stored."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Annotate models: train accuracy on the member pool, test accuracy, overfit gap, classes, training size."""
    from securitynet.annotation import annotate_models
    from securitynet.catalog.query import select_cards
    from securitynet.zoo.devices import resolve_device

    resolve_device(device)  # an unusable device: one line before the run is recorded
    store = get_store()
    cards = select_cards(" ".join(query), store)  # raises a clear error when nothing matches
    run_id = f"annotate-{uuid.uuid4().hex[:12]}"
    store.start_run(run_id, command=shlex.join(["securitynet", *sys.argv[1:]]), executor="local",
                    host=platform.node(), software_version=__version__, pid=os.getpid())
    status = "failed"
    table = fmt is OutputFormat.table
    try:
        rows = annotate_models(
            cards, store, member_split=member_split, test_split=test_split, max_images=max_images,
            device=device, force=force, run_id=run_id, console=console, show=table,
        )
        status = "finished"
    finally:
        store.finish_run(run_id, status)
    if not table:
        emit([row.as_dict() for row in rows], ANNOTATION_COLUMNS, fmt.value)
    counts = Counter(row.status for row in rows)
    # With JSON or CSV, standard output carries only the data.
    (console if table else err_console).print(
        f"{counts['done']} measured, {counts['skipped']} already stored (use --force to measure again), "
        f"{counts['failed']} failed; results in {store.url} (run {run_id})"
    )
    if counts["failed"]:
        raise typer.Exit(1)
