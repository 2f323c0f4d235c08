"""Check a card against its real model before it is stored (`securitynet catalog add`).

The model is built, its weights are fetched (verified) and loaded, and a probe batch of the card's dataset (a few
held-out images; random images of the card's input layout when the dataset is not available here) goes through
the same black box every attack uses, `TargetModel.predict_proba`, whose output guard (`zoo.output_check`) checks
the width against `num_classes`, finiteness and the declared `output_kind`. The first problem is raised as one
CardCheckError line naming the card field at fault and what was seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from securitynet.catalog.card import ModelCard
from securitynet.errors import CardCheckError, DatasetError, SecurityNetError, ShapeError, WeightsError, first_line
from securitynet.zoo.loader import build_module, fetch_and_pin, load_target

PROBE_IMAGES = 16


@dataclass
class CardCheck:
    card: ModelCard  # as checked: Hub weights pinned to their revision and sha256
    probe: str  # what the probe batch was
    weight_hash: str | None


def probe_batch(card: ModelCard, n: int = PROBE_IMAGES, seed: int = 0) -> tuple[np.ndarray, str]:
    """(uint8 images, description): the first `n` held-out images of the card's dataset, else random images."""
    from securitynet.data.registry import get_dataset, load_split

    try:
        info = get_dataset(card.dataset)
        if info.nonmember_split is None:
            raise DatasetError(f"{card.dataset} has no held-out split")
        images = load_split(info, info.nonmember_split).images[:n]
        return np.asarray(images), f"{len(images)} images of {info.name} {info.nonmember_split}"
    except DatasetError:
        pass
    spec = card.input
    assert spec is not None
    rng = np.random.default_rng(seed)
    shape = (n, *spec.size) if spec.channels == 1 or spec.is_volume else (n, *spec.size, spec.channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8), (
        f"{n} random images of the card's input size (dataset {card.dataset} is not available here)")


def _refuse(card: ModelCard, field: str, detail: str) -> CardCheckError:
    return CardCheckError(f"model card {card.id} not stored: {field}: {detail}")


def _output_field(message: str) -> str:
    if "num_classes" in message:
        return "num_classes"
    if "probabilities" in message or "log-probabilities" in message:
        return "output_kind"
    return "outputs"


def _checkpoint_width(card: ModelCard, path: Path) -> int | None:
    """The checkpoint's number of outputs when the only reason its weights do not fit is the card's num_classes:
    the tensors whose shapes differ are exactly those that have num_classes rows in the built module."""
    from securitynet.zoo.weights import load_state_dict_file

    try:
        state = load_state_dict_file(path, card.weights)
        built = build_module(card).state_dict()
    except Exception:  # noqa: BLE001 - only a diagnosis; the caller reports the original error otherwise
        return None
    differing = [key for key, value in state.items() if key in built and tuple(value.shape) != tuple(built[key].shape)]
    if not differing or any(built[key].shape[0] != card.num_classes for key in differing):
        return None
    widths = {int(state[key].shape[0]) for key in differing}
    return widths.pop() if len(widths) == 1 else None


def _check_builds(card: ModelCard) -> None:
    try:
        build_module(card)
    except SecurityNetError as exc:
        raise _refuse(card, "architecture", first_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any constructor error means the card's architecture is wrong
        raise _refuse(card, "architecture", f"{card.architecture} does not build: {first_line(exc)}") from None


def check_card(card: ModelCard, *, device: str = "cpu", probe: tuple[np.ndarray, str] | None = None) -> CardCheck:
    """Build, fetch, load and probe the card's model; raise CardCheckError naming the first field at fault."""
    if card.input is None:
        raise _refuse(card, "input", "the card has no input spec")
    if card.num_classes is None:
        raise _refuse(card, "num_classes", "the card does not say how many classes the model outputs")
    if card.weights.format != "onnx":  # an ONNX file is its own architecture: it is checked by loading it
        _check_builds(card)
    try:
        path, card = fetch_and_pin(card)
    except WeightsError as exc:
        raise _refuse(card, "weights", first_line(exc)) from None
    images, described = probe if probe is not None else probe_batch(card)
    try:
        target = load_target(card, device=device, weights_path=path)
    except WeightsError as exc:
        width = _checkpoint_width(card, path)
        if width is not None:
            raise _refuse(card, "num_classes", f"the card says {card.num_classes}, the weights' output layer has "
                                               f"{width} outputs") from None
        raise _refuse(card, "weights", first_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the first forward pass (layout probe) runs on the card's input size
        raise _refuse(card, "input", f"the model fails on inputs of size {card.input.size} with "
                                     f"{card.input.channels} channel(s): {first_line(exc)}") from None
    try:
        with torch.inference_mode():
            target.predict_proba(images)
    except ShapeError as exc:
        message = first_line(exc)
        raise _refuse(card, _output_field(message), message.removeprefix(f"model {card.id}: ")) from None
    except Exception as exc:  # noqa: BLE001 - the model cannot take the card's input
        raise _refuse(card, "input", f"the model fails on inputs of size {card.input.size} with "
                                     f"{card.input.channels} channel(s): {first_line(exc)}") from None
    return CardCheck(card=card, probe=described, weight_hash=target.weight_hash)
