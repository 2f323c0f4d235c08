"""`securitynet catalog add SOURCE`: the cards a source string names, before they are checked and stored.

SOURCE is a YAML card file (`*.yaml`, `*.yml`), `timm:<tag>`, `hf-hub:<repo_id>`, `torchvision:<name>` or an ONNX
file (`*.onnx`, described by `catalog.sources.onnx_file`, with what the file cannot say given as options or a small
YAML file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from securitynet.catalog.card import ModelCard
from securitynet.errors import CardError

PREFIXES = ("timm:", "hf-hub:", "torchvision:")
USAGE = "a YAML card file, timm:<tag>, hf-hub:<repo_id>, torchvision:<name> or an ONNX file"


@dataclass(frozen=True)
class SourceOptions:
    """What a file cannot say: the dataset, the input (channels, size), and a YAML file of further card fields."""

    dataset: str | None = None
    channels: int | None = None
    input_size: tuple[int, ...] | None = None
    extra_yaml: Path | None = None
    card_id: str | None = None


def parse_input(text: str) -> tuple[int, tuple[int, ...]]:
    """`3x224x224` (channels x H x W), `1x28x28`, or `1x28x28x28` (a volume) -> (channels, size)."""
    try:
        parts = tuple(int(p) for p in text.lower().replace(",", "x").split("x"))
    except ValueError:
        parts = ()
    if len(parts) not in (3, 4) or any(p <= 0 for p in parts):
        raise CardError(f"--input {text!r} must be CxHxW (e.g. 3x224x224) or CxDxHxW, positive integers")
    return parts[0], parts[1:]


def cards_from_source(source: str, options: SourceOptions = SourceOptions()) -> list[ModelCard]:
    """The cards `source` names, with `options` applied; CardError (one line) for anything else."""
    kind, _, name = source.partition(":")
    if source.startswith(PREFIXES):
        if not name:
            raise CardError(f"{source!r} names no model after {kind}:")
        cards = [_library_card(kind, name, options)]
    else:
        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            cards = [_onnx_card(path, options)]
        elif suffix in (".yaml", ".yml"):
            from securitynet.catalog.sources.yaml_cards import load_card_file

            cards = load_card_file(path)
        else:
            raise CardError(f"{source!r} is not a card source: give {USAGE}")
    return [_with_options(card, options) for card in cards]


def _library_card(kind: str, name: str, options: SourceOptions) -> ModelCard:
    if kind == "timm":
        from securitynet.catalog.sources.timm_hub import card_for_tag

        return card_for_tag(name)
    if kind == "hf-hub":
        from securitynet.catalog.sources.hf_hub import card_from_hub_repo

        return card_from_hub_repo(name, dataset=options.dataset)
    from securitynet.catalog.sources.torchvision_weights import card_for, resolve

    return card_for(*resolve(name))


def _onnx_card(path: Path, options: SourceOptions) -> ModelCard:
    from securitynet.catalog.sources.onnx_file import card_from_onnx_file

    kwargs: dict[str, Any] = {"dataset": options.dataset, "extra_yaml": options.extra_yaml,
                              "input_size": options.input_size, "channels": options.channels}
    if options.card_id:
        kwargs["card_id"] = options.card_id
    return card_from_onnx_file(path, **kwargs)


def _with_options(card: ModelCard, options: SourceOptions) -> ModelCard:
    """Options override what the source said (the dataset a model is evaluated on, its id, its input)."""
    data = card.to_dict()
    if options.dataset:
        data["dataset"] = options.dataset
    if options.card_id:
        data["id"] = options.card_id
    if options.input_size is not None and data.get("input"):
        data["input"] = {**data["input"], "channels": options.channels, "size": list(options.input_size)}
    if options.extra_yaml is not None and card.source != "onnx":
        data = _merge(data, _read_yaml(options.extra_yaml))
    return ModelCard.from_dict(data, origin="catalog add options")


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CardError(f"card fields file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise CardError(f"card fields file {path} must hold a mapping of card fields")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key),
                                                                                         dict) else value
    return merged
