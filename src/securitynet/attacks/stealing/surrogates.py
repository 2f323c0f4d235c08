"""Surrogate models of a stealing attack: the target's own architecture, a WideResNet, or a small CNN.

All are built untrained, with initial weights fixed by a seed, and take the target's input spec (the
attacker feeds them the same images it sends to the target). A surrogate always outputs logits: a target
architecture that ends in a softmax (the card says ``output_kind: probabilities``) is wrapped so that its
output is the log of those probabilities, which are valid logits and train with the same losses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn

from securitynet.attacks.base import AttackError
from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.zoo.heads import log_posteriors
from securitynet.zoo.memory_format import as_layout, use_channels_last, usual_layout_after
from securitynet.zoo.target import images_to_tensor

SurrogateKind = Literal["target-arch", "wrn", "small-cnn"]
SURROGATE_KINDS: tuple[str, ...] = ("target-arch", "wrn", "small-cnn")

# The small CNN is LeNet-5 shaped (two 5x5 convolutions with pooling, then 120-84 fully connected; `lenet`
# in zoo/archs/small.py): it keeps the spatial layout up to the classifier, which is what lets it copy a
# digit or sign classifier from a few thousand answers in a few epochs on a CPU (the global-pooled
# `small_cnn` needs several times the steps for the same agreement).
SMALL_CNN_ARCH = "lenet"
WRN_ARCH = "wrn"


@dataclass(frozen=True)
class SurrogateSpec:
    """What a surrogate is: architecture id, its arguments, and whether its output needs a log."""

    kind: str
    architecture: str
    arch_kwargs: dict[str, Any]
    output_kind: str = "logits"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "architecture": self.architecture, "arch_kwargs": self.arch_kwargs,
                "output_kind": self.output_kind}


def surrogate_spec(kind: str, card: ModelCard, *, wrn_depth: int = 16, wrn_widen_factor: int = 4) -> SurrogateSpec:
    """The architecture a surrogate of ``kind`` has for this target (its input size and channels)."""
    if card.input is None:
        raise AttackError(f"model {card.id} has no input spec: no surrogate can be built for it")
    if kind == "target-arch":
        if not card.architecture:
            raise AttackError(f"the card of {card.id} names no architecture: use surrogate=wrn or small-cnn")
        return SurrogateSpec(kind, card.architecture, dict(card.arch_kwargs), card.output_kind)
    if kind not in SURROGATE_KINDS:
        raise AttackError(f"unknown surrogate {kind!r}; choose one of {', '.join(SURROGATE_KINDS)}")
    if len(card.input.size) != 2:
        raise AttackError(f"surrogate {kind} is a 2-D network; {card.id} takes volumes (use surrogate=target-arch)")
    common = {"in_channels": card.input.channels, "input_size": list(card.input.size)}
    if kind == "wrn":
        return SurrogateSpec(kind, WRN_ARCH, {**common, "depth": wrn_depth, "widen_factor": wrn_widen_factor})
    return SurrogateSpec(kind, SMALL_CNN_ARCH, common)


class LogOfProbabilities(nn.Module):
    """Logits from a module that outputs probabilities, log-probabilities or one binary unit: log p over the
    classes is a valid logit vector (for a one-unit head, over its two classes)."""

    def __init__(self, module: nn.Module, output_kind: str) -> None:
        super().__init__()
        self.module = module
        self.output_kind = output_kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return log_posteriors(self.module(x), self.output_kind)


def build_surrogate(spec: SurrogateSpec, num_classes: int, *, seed: int, trainer: Any) -> nn.Module:
    """An untrained surrogate whose initial weights depend only on ``seed``; ``trainer`` is `zoo.train`."""
    module = trainer.init_module(spec.architecture, num_classes, seed=seed, arch_kwargs=spec.arch_kwargs)
    if spec.kind == "small-cnn":
        he_initialise(module, seed)
    if spec.output_kind != "logits":
        module = LogOfProbabilities(module, spec.output_kind)
    return module


def he_initialise(module: nn.Module, seed: int) -> None:
    """He (Kaiming) normal weights and zero biases for every convolution and linear layer, seeded.

    PyTorch's default initialisation (uniform, scaled for a leaky slope of sqrt(5)) leaves a ReLU LeNet on
    [0, 1] inputs at chance for its first 5-8 epochs of SGD: measured on the public MNIST LeNet with 1,000
    queries (batch 128, lr 0.05), agreement after 10 epochs was 0.24-0.74 with it, 0.94-0.95 with He weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)


def predict_labels(
    module: nn.Module, images: np.ndarray, spec: InputSpec, device: torch.device | str, batch_size: int = 64
) -> np.ndarray:
    """Top-1 labels of a trained surrogate on uint8 images (natural layout), batched, without gradients."""
    probs = predict_proba(module, images, spec, device, batch_size)
    return probs.argmax(axis=1).astype(np.int64) if len(probs) else np.zeros(0, dtype=np.int64)


def predict_proba(
    module: nn.Module, images: np.ndarray, spec: InputSpec, device: torch.device | str, batch_size: int = 64
) -> np.ndarray:
    """Softmax outputs of a surrogate, batched (small batches keep a CPU's caches warm, see
    engine/inference.py); the module's train/eval mode and memory layout are left as they were."""
    if len(images) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    was_training = module.training
    module.eval().to(device)
    first = images_to_tensor(images[:2], spec).to(device)
    channels_last = use_channels_last(module, first)
    chunks = []
    try:
        with torch.inference_mode(), usual_layout_after(module, channels_last):
            for start in range(0, len(images), batch_size):
                x = as_layout(images_to_tensor(images[start : start + batch_size], spec).to(device), channels_last)
                chunks.append(torch.softmax(module(x).float(), dim=1).cpu())
    finally:
        module.train(was_training)
    return torch.cat(chunks).numpy()


