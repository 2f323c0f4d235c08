"""Multiply-accumulates of one forward pass: what an architecture costs per image, measured on the module.

A card's architecture can be sized on PyTorch's meta device (`card_macs`): shapes only, no parameters
allocated, so sizing an ImageNet model costs nothing. Cost estimates (`engine/cost.py`) scale measured
attack times by it; the membership reference models compare it with their budget.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from securitynet.catalog.card import InputSpec, ModelCard

_COUNTED = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def _layer_macs(layer: torch.nn.Module, output: Any) -> int:
    if not isinstance(output, torch.Tensor):
        return 0
    per_output = layer.in_features if isinstance(layer, torch.nn.Linear) \
        else math.prod(layer.kernel_size) * layer.in_channels // layer.groups
    # Every output element costs one dot product: a linear layer over a sequence (ViT tokens) once per token.
    return int(output[0].numel()) * int(per_output)


def multiply_accumulates(module: torch.nn.Module, spec: InputSpec) -> int:
    """Multiply-accumulates of one forward pass on one image, over convolution and linear layers."""
    total = 0

    def count(layer: torch.nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        total += _layer_macs(layer, output)

    device = next(module.parameters(), torch.empty(0)).device  # the meta device when sized without weights
    handles = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, _COUNTED)]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, spec.channels, *spec.size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total


def card_macs(card: ModelCard) -> int | None:
    """Multiply-accumulates per image of the card's architecture, or None where it cannot be built here."""
    from securitynet.zoo.loader import build_module

    if not card.architecture or not card.input.size or len(card.input.size) != 2:
        return None
    # Some constructors read values (timm's ViT: `.item()` of a schedule), which the meta device cannot give:
    # those are built for real, once, on the CPU.
    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                return multiply_accumulates(build_module(card), card.input)
        except Exception:  # noqa: BLE001, PERF203 - a model that cannot be sized is estimated as the larger reference
            continue
    return None
