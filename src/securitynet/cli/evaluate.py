"""`securitynet evaluate`: run attacks on models, resumably, on this machine or a Ray cluster."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum

import typer
from rich.table import Table

from securitynet.cli.common import clean_errors, console, err_console, get_store


class ExecutorChoice(StrEnum):
    local = "local"
    process = "process"
    ray = "ray"


def _plan_table(plan) -> Table:  # type: ignore[no-untyped-def]
    """One row per model x attack, seeds grouped by state: readable even for large plans."""
    table = Table(title="plan", show_lines=False)
    for column in ("model", "attack", "version", "params", "pending seeds", "done seeds", "note"):
        table.add_column(column, overflow="fold")
    rows: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    meta: dict[tuple[str, str], tuple[str, str, str]] = {}
    for entry in plan.entries:
        key = (entry.job.model_id, entry.job.attack)
        rows[key][entry.state].append(entry.job.seed)
        note = entry.reason if entry.state == "not-applicable" else ""
        meta[key] = (entry.job.attack_version, entry.job.params_hash[:8], note)
    for (model, attack), states in rows.items():
        version, phash, note = meta[(model, attack)]
        table.add_row(
            model, attack, version, phash,
            ", ".join(map(str, states.get("pending", []))) or "-",
            ", ".join(map(str, states.get("done", []))) or "-",
            note or "",
        )
    return table


def _results_table(summary) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title=f"results of {summary.run_id}")
    for column in ("model", "attack", "seed", "status", "metrics / error"):
        table.add_column(column, overflow="fold")
    for record in summary.records:
        if record.status == "done":
            text = "  ".join(
                f"{name}={'n/a' if value is None else f'{value:.4g}'}" for name, value in sorted(record.metrics.items())
            )
            status = "[green]done[/]"
        else:
            text, status = f"[red]{record.error}[/]", "[red]failed[/]"
        table.add_row(record.model_id, record.attack, str(record.seed), status, text)
    return table


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    @clean_errors
    def evaluate(
        models: str = typer.Option(
            ..., "--models", "-m", help="Model query: ids, id globs or filters, e.g. 'dataset=mnist'."
        ),
        attacks: str = typer.Option(..., "--attacks", "-a", help="Attack names or globs, comma separated: 'mia.*'."),
        seeds: int = typer.Option(1, "--seeds", min=1, help="Run each attack with seeds 0..N-1."),
        param: list[str] = typer.Option(
            None, "--param", "-p", help="attack.key=value (attack may be a glob: 'mia.*.n=500'); repeatable."
        ),
        force: bool = typer.Option(False, "--force", help="Rerun jobs already finished in the store."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and exit."),
        executor: ExecutorChoice = typer.Option(ExecutorChoice.local, "--executor", help="Where jobs run."),
        address: str = typer.Option(None, "--address", help="Ray cluster address ('auto' or host:port)."),
        workers: int = typer.Option(None, "--workers", min=1, help="Worker processes (process) or CPUs (local Ray)."),
        device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: the GPU when present)."),
        random_weights: bool = typer.Option(
            False, "--random-weights", help="Use randomly initialised models (offline checks; stored apart)."
        ),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
        threads: int = typer.Option(
            None, "--threads", min=1,
            help="CPU threads per worker (default: torch's, split between process-pool workers). On a machine "
            "that other jobs keep busy, 1 avoids threads spin-waiting for cores they do not get.",
        ),
    ) -> None:
        """Run attacks on models. Each finished job is stored at once; a rerun skips finished jobs.

        Exit code 1 when any job failed (its error is stored and printed); the other jobs still ran.
        """
        from securitynet.engine.plan import build_plan
        from securitynet.engine.run import execute_plan
        from securitynet.engine.selection import select_models

        if device is not None and device.split(":")[0] not in ("cpu", "cuda"):
            raise typer.BadParameter(f"--device must be cpu, cuda or cuda:N, got {device!r}")
        if device is not None and device.startswith("cuda") and executor is not ExecutorChoice.ray:
            import torch

            if not torch.cuda.is_available():
                raise typer.BadParameter("--device cuda: this machine has no usable CUDA device")
        store = get_store()
        cards = select_models(models, store)
        plan = build_plan(
            cards, attacks, seeds=seeds, params=param, store=store, force=force, pretrained=not random_weights
        )
        pending, done, na = len(plan.pending), len(plan.done), len(plan.not_applicable)
        console.print(
            f"{len(plan.cards)} models x {len(plan.attacks)} attacks x {len(plan.seeds)} seeds: "
            f"{pending} to run, {done} already in the store, {na} not applicable"
        )
        if dry_run:
            console.print(_plan_table(plan))
            return
        if not pending:
            console.print("nothing to run (use --force to rerun finished jobs)")
            return
        summary = execute_plan(
            plan, store, executor=executor.value, workers=workers, address=address, device=device,
            progress=progress, console=console, torch_threads=threads,
        )
        console.print(_results_table(summary))
        failed = len(summary.failed)
        console.print(f"run {summary.run_id}: {len(summary.done)} done, {failed} failed, stored in {store.url}")
        if failed:
            err_console.print(f"[red]{failed} job(s) failed; rerun the same command to retry them[/]")
            raise typer.Exit(1)
