"""`securitynet zoo ...`: self-trained model zoos with ground truth (the trojan zoo for backdoor detection)."""

from __future__ import annotations

import json

import typer

from securitynet.cli.common import clean_errors, console, get_store
from securitynet.cli.output import Column, emit

zoo_app = typer.Typer(help="Self-trained model zoos with ground truth.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(zoo_app, name="zoo")


@zoo_app.command("trojan")
@clean_errors
def trojan_command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset to train on (mnist, gtsrb, digits, ...)."),
    clean: int = typer.Option(..., "--clean", min=0, help="Number of clean models."),
    trojaned: int = typer.Option(..., "--trojaned", min=0, help="Number of backdoored twins."),
    attacks: str = typer.Option("badnets,blended,wanet", "--attacks", help="Backdoor attacks, comma separated."),
    seed: int = typer.Option(0, "--seed", help="Zoo seed: architectures, triggers, targets, poison rates."),
    split: str = typer.Option(None, "--split", help="Training split (default: the member split present)."),
    train_size: int = typer.Option(None, "--train-size", min=10, help="Stratified subset size (default: all)."),
    architectures: str = typer.Option(None, "--architectures", help="Comma separated (default: per dataset)."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Training epochs (default: per dataset)."),
    min_attack_success: float = typer.Option(0.8, "--min-asr", help="Redraw backdoors below this success rate."),
    device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: the GPU when there is one)."),
    force: bool = typer.Option(False, "--force", help="Retrain even when verified weights exist."),
    as_json: bool = typer.Option(False, "--json", help="Print the cards' ground truth as JSON."),
) -> None:
    """Train clean models and backdoored twins (BadNets, Blended, WaNet) with their ground truth on the cards."""
    from securitynet.zoo.devices import resolve_device
    from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec, build_trojan_zoo

    resolve_device(device)  # an unusable device: one line before any model trains
    spec = TrojanZooSpec(
        dataset=dataset,
        n_clean=clean,
        n_trojaned=trojaned,
        attacks=tuple(a.strip() for a in attacks.split(",") if a.strip()),
        seed=seed,
        split=split,
        train_size=train_size,
        architectures=tuple(a.strip() for a in architectures.split(",") if a.strip()) if architectures else None,
        epochs=epochs,
        min_attack_success=min_attack_success,
    )
    store = get_store()
    cards = build_trojan_zoo(spec, store=store, device=device, progress=not as_json, force=force)
    rows = []
    for card in cards:
        trojan = card.extra.get("trojan", {})
        backdoor = card.backdoor
        rows.append({
            "id": card.id,
            "architecture": card.architecture,
            "attack": backdoor.attack if backdoor else None,
            "target_label": backdoor.target_label if backdoor else None,
            "poison_rate": backdoor.poison_rate if backdoor else None,
            "clean_accuracy": trojan.get("clean_accuracy"),
            "attack_success_rate": backdoor.attack_success_rate if backdoor else None,
            "accepted": trojan.get("accepted"),
        })
    if as_json:
        console.print_json(json.dumps(rows))
        return
    columns = [Column("id", "model", kind="id"), Column("architecture", "arch", kind="id"), Column("attack"),
               Column("target_label", "target", kind="int"), Column("poison_rate", "poison", kind="number"),
               Column("clean_accuracy", "clean acc", kind="number"), Column("attack_success_rate", "ASR",
                                                                             kind="number"),
               Column("accepted", "ASR ok", kind="bool")]
    emit(rows, columns, "table", title=f"trojan zoo on {dataset}: {len(cards)} models (stored in {store.url})")
