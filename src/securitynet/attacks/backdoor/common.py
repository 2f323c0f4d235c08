"""What every backdoor detector needs: the defender's clean images, the model in pixel space, the ground truth.

Detectors that optimise inputs (Neural Cleanse, ABS, MNTD's queries) work on images in *unit pixel space*:
float tensors (N, C, H, W) in [0, 1], i.e. the uint8 image divided by 255, at the model's input size.
`PixelModel` maps that space through the card's preprocessing (scale, mean, std) into the model and
returns log-probabilities whatever the card's output kind, so a mask found on one model means the same
pixels as on any other, and it can be pasted back into uint8 images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.errors import ShapeError
from securitynet.zoo.heads import log_posteriors
from securitynet.zoo.output_check import check_outputs
from securitynet.zoo.target import images_to_tensor, per_channel


@dataclass(frozen=True)
class GroundTruth:
    """What the card says: backdoored True/False, or None when unknown; target label and trigger when known."""

    backdoored: bool | None
    target_label: int | None
    trigger: dict[str, Any] | None
    attack: str | None


def ground_truth(card: ModelCard) -> GroundTruth:
    info = card.backdoor
    if info is None:
        return GroundTruth(None, None, None, None)
    if info.attack == "none":
        return GroundTruth(False, None, None, "none")
    trigger = dict(info.trigger) if info.trigger and "kind" in info.trigger else None
    return GroundTruth(True, info.target_label, trigger, info.attack)


def pixel_spec(spec: InputSpec) -> InputSpec:
    """The card's input spec without its value transform: images_to_tensor then gives [0, 1] pixels."""
    return spec.model_copy(update={"scale": 1.0 / 255.0, "mean": None, "std": None})


def to_pixels(images: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """uint8 natural-layout images -> (N, C, H, W) float in [0, 1] at the model's size and channels."""
    return images_to_tensor(images, pixel_spec(spec))


class PixelModel(torch.nn.Module):
    """A target's module seen from unit pixel space, returning log-probabilities (differentiable)."""

    def __init__(self, module: torch.nn.Module, card: ModelCard) -> None:
        super().__init__()
        if card.input is None:
            raise ShapeError(f"model card {card.id} has no input spec")
        spec = card.input
        self.module = module
        self.card = card
        self.output_kind = card.output_kind
        self._outputs_checked = False  # the first batch passes the output guard, as the black box's every batch does
        shape = (1, spec.channels) + (1,) * len(spec.size)
        gain = 255.0 * spec.scale  # [0, 1] pixels -> the card's scaled values
        mean = torch.zeros(shape) if spec.mean is None else torch.tensor(per_channel(spec.mean, spec.channels))
        std = torch.ones(shape) if spec.std is None else torch.tensor(per_channel(spec.std, spec.channels))
        self.register_buffer("gain", torch.tensor(gain, dtype=torch.float32))
        self.register_buffer("mean", mean.float().view(shape))
        self.register_buffer("std", std.float().view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(self._model_values(x))
        if not self._outputs_checked:
            check_outputs(out if out.dtype == torch.float32 else self._full_precision_outputs(x), self.card)
            self._outputs_checked = True
        if out.dtype in (torch.bfloat16, torch.float16):
            out = out.float()  # under mixed precision: the log-softmax runs in float32
        return log_posteriors(out, self.output_kind)

    def _model_values(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.gain - self.mean) / self.std

    def _full_precision_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The batch's outputs in float32, autocast off: the guard judges the model, not the rounding.

        Under mixed precision a model that returns probabilities computes its own softmax in bfloat16, whose
        rows miss a sum of 1 by more than the guard's tolerance although the model is sound.
        """
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            return self.module(self._model_values(x.float()))


def defender_images(ctx: Any, n: int, split: str | None = None, *, name: str = "clean") -> Any:
    """``n`` clean images the defender holds (default: the dataset's held-out split), drawn with ctx.rng.

    The positions used are recorded with the job, so the run can be repeated on exactly these images.
    """
    info = ctx.dataset_info()
    split = split or info.nonmember_split
    data = ctx.load_split(split)
    if len(data) == 0:
        raise ShapeError(f"{info.name}/{split} holds no images")
    take = min(int(n), len(data))
    positions = np.sort(ctx.rng.choice(len(data), size=take, replace=False))
    subset = data.subset(positions)
    ctx.record(f"{name}_images", {"split": split, "n": take, "indices": np.asarray(subset.indices).tolist()})
    return subset


@contextlib.contextmanager
def frozen_weights(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no weight gradients while optimising inputs; both restored afterwards.

    The engine runs every job of a model on one loaded module, so an attack must leave it as it found it.
    """
    was_training = module.training
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    module.eval()
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield module
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        module.train(was_training)

