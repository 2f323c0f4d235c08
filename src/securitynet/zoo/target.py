"""TargetModel: a catalogued model behind one black-box call and one white-box handle."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.errors import ShapeError, first_line
from securitynet.zoo.devices import default_device
from securitynet.zoo.heads import posteriors
from securitynet.zoo.memory_format import as_layout, use_channels_last
from securitynet.zoo.output_check import check_outputs


def images_to_tensor(images: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """uint8 images in the dataset's natural layout -> float tensor in the model's layout, normalised.

    Natural layouts: (N, H, W) grey, (N, H, W, C) colour, (N, D, H, W) grey volume. Images of another
    spatial size are resized (bilinear / trilinear), grey is repeated to three channels and colour is
    averaged to grey when the spec asks for it, so out-of-distribution query sets fit any target.
    A spec with `resize_shorter` (and `center_crop`) first applies that evaluation transform to images
    not already of the spec's size, as the model's own evaluation did.
    """
    # Dataset arrays are shared read-only views; torch.from_numpy would warn on them, and the
    # float conversion below copies anyway, so copying the uint8 batch here costs nothing extra.
    x = torch.from_numpy(np.array(images, copy=True, order="C"))
    rank = len(spec.size)
    if rank == 2:
        if x.ndim == 3:  # (N, H, W)
            x = x.unsqueeze(1)
        elif x.ndim == 4:  # (N, H, W, C)
            x = x.permute(0, 3, 1, 2)
        else:
            raise ShapeError(f"expected images of shape (N,H,W) or (N,H,W,C), got {tuple(images.shape)}")
    else:
        if x.ndim == 4:  # (N, D, H, W)
            x = x.unsqueeze(1)
        elif x.ndim != 5:
            raise ShapeError(f"expected volumes of shape (N,D,H,W) or (N,C,D,H,W), got {tuple(images.shape)}")
    x = x.to(torch.float32) * spec.scale
    have = x.shape[1]
    if have != spec.channels:
        if have == 1:
            x = x.expand(-1, spec.channels, *x.shape[2:])
        elif spec.channels == 1:
            x = x.mean(dim=1, keepdim=True)
        else:
            raise ShapeError(f"images have {have} channels, the model takes {spec.channels}")
    if tuple(x.shape[2:]) != tuple(spec.size) and spec.resize_shorter is not None:
        x = _resize_shorter_side(x, spec.resize_shorter, spec.interpolation)
        if spec.center_crop:
            x = _center_crop(x, tuple(spec.size))
    if tuple(x.shape[2:]) != tuple(spec.size):
        mode = spec.interpolation if rank == 2 else "trilinear"
        x = F.interpolate(x, size=tuple(spec.size), mode=mode, align_corners=False)
    if spec.mean is not None and spec.std is not None:
        shape = (1, spec.channels) + (1,) * rank
        mean = torch.tensor(per_channel(spec.mean, spec.channels), dtype=torch.float32).view(shape)
        std = torch.tensor(per_channel(spec.std, spec.channels), dtype=torch.float32).view(shape)
        x = (x - mean) / std
    return x.contiguous()


def _resize_shorter_side(x: torch.Tensor, shorter: int, mode: str = "bilinear") -> torch.Tensor:
    """(N, C, H, W) -> the shorter side resized to `shorter`, aspect kept (torchvision's Resize(int) rule).

    Antialiased (bilinear or bicubic, as the card says), as PIL resizes in the evaluation pipelines these specs
    describe.
    """
    height, width = x.shape[2:]
    if min(height, width) == shorter:
        return x
    if height <= width:
        size = (shorter, int(shorter * width / height))
    else:
        size = (int(shorter * height / width), shorter)
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)


def _center_crop(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """The centre `size` region of (N, C, H, W), placed as torchvision's CenterCrop places it."""
    height, width = x.shape[2:]
    crop_h, crop_w = min(size[0], height), min(size[1], width)
    top = int(round((height - crop_h) / 2.0))
    left = int(round((width - crop_w) / 2.0))
    return x[:, :, top : top + crop_h, left : left + crop_w]


def per_channel(values: tuple[float, ...], channels: int) -> list[float]:
    """A normalisation's mean or std, one value per channel (a single value serves every channel)."""
    if len(values) == channels:
        return list(values)
    if len(values) == 1:
        return list(values) * channels
    raise ShapeError(f"normalisation has {len(values)} values for {channels} channels")


def _probe_input(module: torch.nn.Module, example: torch.Tensor, card: ModelCard) -> None:
    """A ShapeError naming the card's input.size when the module cannot run on a batch of that size.

    Torch's own message ("mat1 and mat2 shapes cannot be multiplied") names no size a user could fix.
    """
    try:
        with torch.inference_mode():
            module(example)
    except Exception as exc:  # noqa: BLE001 - whatever the layer, the input the card describes does not run
        spec = card.input
        assert spec is not None
        detail = first_line(exc)
        raise ShapeError(
            f"model {card.id} does not accept the input its card describes (input.size {list(spec.size)}, "
            f"input.channels {spec.channels}): {detail}; check the card's input.size and input.channels"
        ) from None


@dataclass
class TargetModel:
    """A model under test. `predict_proba` is the black box; `module` the white box."""

    card: ModelCard
    module: torch.nn.Module
    weight_hash: str | None = None
    device: torch.device = field(default_factory=default_device)
    # Images per forward pass of predict_proba: None picks 64 on CPU (cache-sized batches beat large ones
    # there; see engine/inference.py) and 256 on a GPU.
    batch_size: int | None = None
    # Whether the module runs in channels-last layout (see `zoo.memory_format`); decided on construction.
    channels_last: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.module.eval().to(self.device)
        spec = self.card.input
        if spec is None:
            raise ShapeError(f"model card {self.card.id} has no input spec, so images cannot be fed to it")
        example = torch.zeros(2, spec.channels, *spec.size, device=self.device)
        if not spec.is_volume:
            self.channels_last = use_channels_last(self.module, example)
        if not self.channels_last:  # no channels-last probe ran, or it failed: does the usual layout run at all?
            _probe_input(self.module, example, self.card)

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def num_classes(self) -> int | None:
        return self.card.num_classes

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        return images_to_tensor(images, self.card.input)  # type: ignore[arg-type]

    def white_box(self) -> TargetModel:
        """What a white-box attack receives: the model itself (an ONNX target hands over its torch conversion)."""
        return self

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable: preprocessed input tensor -> posteriors (for white-box attacks)."""
        return posteriors(self.module(as_layout(x, self.channels_last)), self.card.output_kind)

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Posteriors (N, C) for uint8 images in the dataset's natural layout."""
        batch_size = batch_size or self.batch_size or (64 if torch.device(self.device).type == "cpu" else 256)
        chunks = []
        for start in range(0, len(images), batch_size):
            x = self.preprocess(images[start : start + batch_size]).to(self.device, non_blocking=True)
            x = as_layout(x, self.channels_last)
            outputs = self.module(x)
            check_outputs(outputs, self.card)  # the output guard: nothing untrustworthy becomes a posterior
            chunks.append(posteriors(outputs, self.card.output_kind).cpu())
        if not chunks:
            return np.zeros((0, self.card.num_classes or 0), dtype=np.float32)
        probs = torch.cat(chunks).numpy()
        classes = self.card.num_classes
        if probs.ndim != 2 or len(probs) != len(images) or (classes and probs.shape[1] != classes):
            raise ShapeError(
                f"model {self.card.id} returned outputs of shape {probs.shape}, "
                f"its card promises {classes} classes"
            )
        return probs

    def predict(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Top-1 labels: the label-only black box."""
        return self.predict_proba(images, batch_size).argmax(axis=1)
