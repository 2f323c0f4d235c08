"""`securitynet catalog add SOURCE` and `securitynet catalog remove ID`: a user's or a library's model into the
database, checked against the real model first; and out again."""

from __future__ import annotations

from pathlib import Path

import typer

from securitynet.cli.common import clean_errors, console, get_store


def add(
    source: str = typer.Argument(..., metavar="SOURCE",
                                 help="A YAML card file, timm:<tag>, hf-hub:<repo_id>, torchvision:<name> "
                                      "or an ONNX file."),
    dataset: str = typer.Option(None, "--dataset", help="The dataset the model is evaluated on (overrides the "
                                                        "source's)."),
    input_shape: str = typer.Option(None, "--input", help="Input as CxHxW, e.g. 3x224x224 (for files that do not "
                                                          "say)."),
    card_yaml: Path = typer.Option(None, "--yaml", exists=True, dir_okay=False,
                                   help="A small YAML file of further card fields (license, train_size, ...)."),
    card_id: str = typer.Option(None, "--id", help="The card id to store it under."),
    device: str = typer.Option("cpu", "--device", help="Where the probe batch runs."),
) -> None:
    """Add models to the database: each card is checked on a probe batch of its dataset (it builds, its weights
    fit, outputs of width num_classes, finite, of the declared output kind) and stored only if it passes."""
    from securitynet.catalog.from_source import SourceOptions, cards_from_source, parse_input
    from securitynet.zoo.card_check import check_card

    channels, size = parse_input(input_shape) if input_shape else (None, None)
    options = SourceOptions(dataset=dataset, channels=channels, input_size=size, extra_yaml=card_yaml,
                            card_id=card_id)
    cards = cards_from_source(source, options)
    checked = []
    for card in cards:  # every card is checked before any is stored: a file's cards go in together or not at all
        with console.status(f"checking {card.id} on a probe batch"):
            checked.append(check_card(card, device=device))
    store = get_store()
    store.upsert_cards([check.card for check in checked])
    for check in checked:
        card = check.card
        console.print(f"added {card.id} ({card.num_classes} classes, {card.dataset}, weights "
                      f"{check.weight_hash or 'unverified'}); checked on {check.probe}")


def remove(card_id: str = typer.Argument(..., metavar="ID", help="The id of a card in the database.")) -> None:
    """Remove a card from the database (its stored results stay, keyed by the model id)."""
    from securitynet.errors import UnknownModelError

    store = get_store()
    if card_id not in set(store.model_ids()):
        raise UnknownModelError(f"no model card {card_id!r} in the database at {store.url}; "
                                "`securitynet catalog list --no-builtin` lists them")
    store.delete_models([card_id])
    console.print(f"removed {card_id} from {store.url}")


def register(app: typer.Typer) -> None:
    from securitynet.cli.catalog import catalog_app

    catalog_app.command("add")(clean_errors(add))
    catalog_app.command("remove")(clean_errors(remove))
