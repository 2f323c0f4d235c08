"""The "file or URL plus architecture" source: model cards written in YAML.

A YAML card names a state dict (one or more URLs, or a local path), its sha256, how to read it (inner key,
key prefix to strip), an architecture (a registered name, ``pytorchcv:``/``torchvision:`` ids, or any
importable ``module:callable``) and the input spec. The built-in cards are the YAML files shipped in
``securitynet/catalog/cards/``; users load their own with :func:`load_card_file`.

A file holds one card (a mapping) or several (a list of mappings); YAML anchors may share parts between
cards. Every problem raises one CardError naming the file, the card and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from securitynet.catalog.card import ModelCard, yaml_problem
from securitynet.errors import CardError

DEFAULT_SOURCE = "file"
ID_PREFIX = f"{DEFAULT_SOURCE}/"  # of every built-in YAML card (a card added from a file may have any id)
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_DOWNLOAD_SCHEMES = {"http", "https", "ftp"}
_PATCH_POSITIONS = {"bottom-right", "bottom-left", "top-right", "top-left", "center", "random"}


def builtin_card_files() -> list[Path]:
    """The YAML card files shipped with the package, in a stable order."""
    folder = resources.files("securitynet.catalog").joinpath("cards")
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml")))


def iter_cards() -> Iterator[ModelCard]:
    """Every card of every built-in YAML file; an id defined in two files is an error."""
    seen: dict[str, Path] = {}
    cards: list[ModelCard] = []
    for path in builtin_card_files():
        for card in load_card_file(path):
            if card.id in seen:
                raise CardError(f"model card {card.id} is defined twice: in {seen[card.id]} and in {path}")
            seen[card.id] = path
            cards.append(card)
    return iter(cards)


def load_card_file(path: str | Path) -> list[ModelCard]:
    """Read and validate the cards of one YAML file (a mapping or a list of mappings).

    Local weight paths (no URL scheme) are resolved against the file's folder and stored as
    ``file://`` URLs, so a card works from any working directory.
    """
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CardError(f"card file {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CardError(f"card file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        raise CardError(f"card file {path} is not valid YAML: {yaml_problem(exc)}") from None
    if data is None:
        raise CardError(f"card file {path} is empty")
    items = data if isinstance(data, list) else [data]
    cards: list[ModelCard] = []
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise CardError(
                f"card file {path}: entry {position} must be a mapping of card fields, got {type(item).__name__}"
            )
        who = f"model card {item.get('id') or f'#{position} (without id)'} in {path}"
        try:
            raw = _prepare(item, path)
        except ValueError as exc:  # urllib on a malformed URL, pathlib on a NUL byte
            detail = " ".join(str(exc).split())
            raise CardError(f"{who}: field weights.urls holds a location that is neither a URL nor a path: "
                            f"{detail}") from None
        card = ModelCard.from_dict(raw, origin=str(path))
        _check_file_card(card, who)
        if card.id in seen:
            raise CardError(f"{who}: id {card.id!r} appears twice in the file")
        seen.add(card.id)
        cards.append(card)
    return cards


def _prepare(item: dict[str, Any], path: Path) -> dict[str, Any]:
    """Defaults and path resolution, on a copy (YAML aliases share objects between cards)."""
    raw = dict(item)
    raw.setdefault("source", DEFAULT_SOURCE)
    if raw.get("name") is None and isinstance(raw.get("id"), str):
        raw["name"] = raw["id"].rsplit("/", 1)[-1]
    weights = raw.get("weights")
    if isinstance(weights, dict) and isinstance(weights.get("urls"), list):
        weights = dict(weights)
        weights["urls"] = [_resolve_location(url, path.parent) for url in weights["urls"]]
        raw["weights"] = weights
    return raw


def _resolve_location(location: Any, base: Path) -> Any:
    if not isinstance(location, str) or _scheme(location):
        return location
    local = Path(location).expanduser()
    if not local.is_absolute():
        local = (base / local).resolve()
    return local.as_uri()


def _scheme(location: str) -> str:
    scheme = urlparse(location).scheme
    # A Windows drive letter ("C:\\...") parses as a one-letter scheme; it is a path.
    return scheme.lower() if len(scheme) > 1 else ""


def _check_file_card(card: ModelCard, who: str) -> None:
    """What a card must say so that its model can be built, fetched and fed images."""
    if card.source != DEFAULT_SOURCE:
        return  # a YAML file may also carry cards of other kinds; their own source checks them
    if not card.architecture and card.weights.format != "onnx":  # an ONNX file holds its own graph
        raise CardError(f"{who}: field architecture is required (a registered name or 'module:callable')")
    if card.input is None:
        raise CardError(f"{who}: field input is required (channels, size, scale, mean, std)")
    weights = card.weights
    if not weights.urls and not weights.filename:
        raise CardError(f"{who}: field weights needs urls (or a path) or a filename in a mirror folder")
    if weights.sha256 is not None and not _SHA256.match(weights.sha256):
        raise CardError(f"{who}: field weights.sha256 must be 64 hexadecimal digits, got {weights.sha256!r}")
    downloads = [url for url in weights.urls if _scheme(url) in _DOWNLOAD_SCHEMES]
    if downloads and weights.sha256 is None:
        raise CardError(f"{who}: field weights.sha256 is required for weights downloaded from {downloads[0]}")
    unknown = [url for url in weights.urls if _scheme(url) not in _DOWNLOAD_SCHEMES | {"file"}]
    if unknown:
        raise CardError(f"{who}: field weights.urls has an unsupported location {unknown[0]!r}")
    if card.input.mean is not None and len(card.input.mean) not in (1, card.input.channels):
        raise CardError(f"{who}: field input.mean needs 1 or {card.input.channels} values")
    if card.input.std is not None:
        if len(card.input.std) not in (1, card.input.channels):
            raise CardError(f"{who}: field input.std needs 1 or {card.input.channels} values")
        if any(s <= 0 for s in card.input.std):
            raise CardError(f"{who}: field input.std must be positive")
    if (card.input.mean is None) != (card.input.std is None):
        raise CardError(f"{who}: fields input.mean and input.std must be given together")
    if card.backdoor is not None:
        _check_trigger(card, who)


def _check_trigger(card: ModelCard, who: str) -> None:
    backdoor = card.backdoor
    assert backdoor is not None
    if backdoor.target_label is not None and card.num_classes is not None:
        if not 0 <= backdoor.target_label < card.num_classes:
            raise CardError(
                f"{who}: field backdoor.target_label {backdoor.target_label} "
                f"is not a class of 0..{card.num_classes - 1}"
            )
    trigger = backdoor.trigger
    if trigger.get("kind") != "patch":
        return
    size = trigger.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise CardError(f"{who}: field backdoor.trigger.size must be a positive integer, got {size!r}")
    if trigger.get("position") not in _PATCH_POSITIONS:
        raise CardError(
            f"{who}: field backdoor.trigger.position must be one of {sorted(_PATCH_POSITIONS)}, "
            f"got {trigger.get('position')!r}"
        )
    value = trigger.get("value")
    if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 255):
        raise CardError(f"{who}: field backdoor.trigger.value must be a pixel value in 0..255, got {value!r}")
