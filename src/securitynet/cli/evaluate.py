"""`securitynet evaluate`: run attacks on models, resumably, on this machine or a Ray cluster."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Annotated, Any

import typer

from securitynet.cli.common import clean_errors, console, err_console, get_store
from securitynet.cli.output import Column, StreamFormat, emit, emit_line


class ExecutorChoice(StrEnum):
    local = "local"
    process = "process"
    ray = "ray"


PLAN_COLUMNS = [
    Column("model_id", "model", kind="id"), Column("attack", kind="id"), Column("variant"),
    Column("pending", "pending seeds"), Column("done", "done seeds"), Column("note"),
    Column("params", show=False), Column("params_hash", show=False), Column("attack_version", show=False),
]
FAILED_COLUMNS = [Column("model_id", "model", kind="id"), Column("attack", kind="id"), Column("seed", kind="int"),
                  Column("error")]


def plan_rows(plan) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """One row per model x attack variant, seeds grouped by state: readable even for large plans."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in plan.entries:
        job = entry.job
        row = rows.setdefault((job.model_id, job.attack, job.params_hash), {
            "model_id": job.model_id, "attack": job.attack, "attack_version": job.attack_version,
            "params_hash": job.params_hash, "params": job.params, "pending": [], "done": [], "note": None,
        })
        if entry.state in ("pending", "done"):
            row[entry.state].append(job.seed)
        elif entry.state == "not-applicable":
            row["note"] = entry.reason
    _label_variants(rows.values())
    return [{**row, "pending": ", ".join(map(str, row["pending"])) or None,
             "done": ", ".join(map(str, row["done"])) or None} for row in rows.values()]


def record_row(record: Any, variant: str = "") -> dict[str, Any]:
    """One finished or failed job as a result row: keys, seed, status, error, then its metrics."""
    return {
        "model_id": record.model_id, "attack": record.attack, "variant": variant,
        "attack_version": record.attack_version, "params_hash": record.params_hash, "params": record.params,
        "seed": record.seed, "status": record.status, "error": record.error, **record.metrics,
    }


def result_rows(records: list[Any]) -> list[dict[str, Any]]:
    rows = [record_row(r) for r in records]
    _label_variants(rows)
    return rows


def _label_variants(rows: Any) -> None:
    """Set each row's variant: the parameters that differ between the rows of the same attack."""
    from securitynet.analysis.frames import variant_labels

    by_attack: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_attack[row["attack"]][row["params_hash"]] = row["params"]
    labels = {attack: variant_labels(params) for attack, params in by_attack.items()}
    for row in rows:
        row["variant"] = labels[row["attack"]][row["params_hash"]]


def _print_results(summary: Any, fmt: str, all_metrics: bool) -> None:
    from securitynet.attacks import headline_metrics_by_attack
    from securitynet.cli.result_view import emit_results

    rows = result_rows(summary.records)
    if fmt in ("json", "csv"):
        emit_results(rows, fmt, headline={}, seed_key="seed",
                     extra=[Column("status"), Column("error")])
        return
    done = [row for row in rows if row["status"] == "done"]
    if done:
        emit_results(done, "table", headline=headline_metrics_by_attack(), all_metrics=all_metrics,
                     seed_key="seed", title=f"results of {summary.run_id}")
    # An error's last line says what went wrong (a traceback ends with it); the store keeps it whole.
    failed = [{**row, "error": _last_line(row["error"])} for row in rows if row["status"] != "done"]
    if failed:
        emit(failed, FAILED_COLUMNS, "table", title=f"failed jobs of {summary.run_id} (full errors in the store)")


def _last_line(text: str | None) -> str | None:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else None


def _print_not_applicable(plan, say: Any, shown: int = 5) -> None:  # type: ignore[no-untyped-def]
    """Why jobs will not run, one line per model and attack (seeds together), the first few of them."""
    reasons = {(e.job.model_id, e.job.attack): e.reason for e in plan.not_applicable}
    for (model, attack), reason in list(reasons.items())[:shown]:
        say.print(f"not applicable: {attack} on {model}: {reason}", overflow="fold")
    if len(reasons) > shown:
        say.print(f"... and {len(reasons) - shown} more model x attack pairs (--dry-run lists them all)")


# Options as types, so the command's signature reads as a list (Typer's documented `Annotated` style).
Models = Annotated[str, typer.Option(
    "--models", "-m", help="Model query: ids, id globs or filters, e.g. 'dataset=mnist'.")]
Attacks = Annotated[str, typer.Option("--attacks", "-a", help="Attack names or globs, comma separated: 'mia.*'.")]
Seeds = Annotated[int, typer.Option("--seeds", min=1, help="Run each attack with seeds 0..N-1.")]
Params = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="attack.key=value (attack may be a glob: 'mia.*.n=500'); repeatable.")]
Force = Annotated[bool, typer.Option("--force", help="Rerun jobs already finished in the store.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan and exit.")]
Cost = Annotated[bool, typer.Option(
    "--cost", help="With --dry-run: estimate the run's time on this machine from the measured cost table.")]
Executors = Annotated[ExecutorChoice, typer.Option("--executor", help="Where jobs run.")]
Address = Annotated[str | None, typer.Option("--address", help="Ray cluster address ('auto' or host:port).")]
Workers = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Worker processes (process) or CPUs (local Ray).")]
Device = Annotated[str | None, typer.Option(
    "--device", help="cpu, cuda or cuda:N (default: the GPU when present).")]
GpusPerJob = Annotated[float | None, typer.Option(
    "--gpus-per-job", help="Ray: GPUs each job reserves, e.g. 0.5 to share one (default 1 on a GPU).")]
RandomWeights = Annotated[bool, typer.Option(
    "--random-weights", help="Use randomly initialised models (offline checks; stored apart).")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]
Format = Annotated[StreamFormat, typer.Option(
    "--format", help="table; json or csv (every job at the end); jsonl (one job per line as each finishes).")]
AllMetrics = Annotated[bool, typer.Option("--all-metrics", help="Every metric, not only the headline ones.")]
Threads = Annotated[int | None, typer.Option(
    "--threads", min=1, help="CPU threads per worker (default: torch's, split between process-pool workers). On a "
    "machine that other jobs keep busy, 1 avoids threads spin-waiting for cores they do not get.")]


def _print_plan(plan: Any, fmt: StreamFormat) -> None:
    rows = plan_rows(plan)
    # A table leaves out the variant and note columns when no row has one; JSON and CSV keep every column.
    columns = [c for c in PLAN_COLUMNS if fmt is not StreamFormat.table or c.key not in ("variant", "note")
               or any(row.get(c.key) for row in rows)]
    emit(rows, columns, "json" if fmt is StreamFormat.jsonl else fmt.value, title="plan")


def _run(plan: Any, store: Any, runner: Any, fmt: StreamFormat, say: Any, all_metrics: bool,
         **settings: Any) -> None:
    """Execute the plan, print its results, exit 1 when a job failed."""
    from securitynet.engine.run import execute_plan

    on_record = (lambda record: emit_line(record_row(record))) if fmt is StreamFormat.jsonl else None
    summary = execute_plan(plan, store, executor=runner, console=say, on_record=on_record, **settings)
    if fmt is not StreamFormat.jsonl:
        _print_results(summary, fmt.value, all_metrics)
    failed = len(summary.failed)
    say.print(f"run {summary.run_id}: {len(summary.done)} done, {failed} failed, stored in {store.url}")
    if failed:
        err_console.print(f"[red]{failed} job(s) failed; rerun the same command to retry them[/]")
        raise typer.Exit(1)


@clean_errors
def evaluate(
    models: Models, attacks: Attacks, seeds: Seeds = 1, param: Params = None, force: Force = False,
    dry_run: DryRun = False, cost: Cost = False, executor: Executors = ExecutorChoice.local,
    address: Address = None, workers: Workers = None, device: Device = None, gpus_per_job: GpusPerJob = None,
    random_weights: RandomWeights = False, progress: Progress = True, fmt: Format = StreamFormat.table,
    all_metrics: AllMetrics = False, threads: Threads = None,
) -> None:
    """Run attacks on models. Each finished job is stored at once; a rerun skips finished jobs.

    Exit code 1 when any job failed (its error is stored and printed); the other jobs still ran.
    """
    from securitynet.engine.executors import make_executor
    from securitynet.engine.plan import build_plan
    from securitynet.engine.selection import select_models

    if cost and not dry_run:
        raise typer.BadParameter("--cost goes with --dry-run (it estimates a run before it starts)")
    runner = make_executor(executor.value, workers=workers, address=address)
    runner.check_device(device, gpus_per_job)  # an unusable device: one line before anything runs
    # With a machine format, standard output carries only the data; what people read goes to stderr.
    say = err_console if fmt is not StreamFormat.table else console
    store = get_store()
    cards = select_models(models, store)
    plan = build_plan(cards, attacks, seeds=seeds, params=param, store=store, force=force,
                      pretrained=not random_weights)
    say.print(
        f"{len(plan.cards)} models x {len(plan.attacks)} attacks x {len(plan.seeds)} seeds: "
        f"{len(plan.pending)} to run, {len(plan.done)} already in the store, {len(plan.not_applicable)} not applicable"
    )
    if dry_run:
        if cost:
            from securitynet.cli.cost_view import print_cost

            print_cost(plan, fmt, say, workers=workers if executor is not ExecutorChoice.local else None)
        else:
            _print_plan(plan, fmt)
        return
    _print_not_applicable(plan, say)
    if not plan.pending:
        say.print("nothing to run (use --force to rerun finished jobs)")
        return
    _run(plan, store, runner, fmt, say, all_metrics, device=device, gpus_per_job=gpus_per_job, progress=progress,
         torch_threads=threads)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
