"""Multiply-accumulates of one forward pass: what an architecture costs per image, measured on the module."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from securitynet.catalog.card import InputSpec


def multiply_accumulates(module: torch.nn.Module, spec: InputSpec) -> int:
    """Multiply-accumulates of one forward pass on one image, over convolution and linear layers."""
    total = 0

    def count(layer: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, torch.nn.Linear):
            total += layer.in_features * layer.out_features
        else:  # ConvNd: every output element costs (input channels / groups) x kernel volume
            kernel = int(np.prod(layer.kernel_size)) * layer.in_channels // layer.groups
            total += int(output[0].numel()) * kernel

    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    handles = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, spec.channels, *spec.size))
    finally:
        for handle in handles:
            handle.remove()
    return total
