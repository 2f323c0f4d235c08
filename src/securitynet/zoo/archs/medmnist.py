"""ResNet-18/50 of the MedMNIST v2 benchmark, laid out like its released checkpoints.

The benchmark (MedMNIST/experiments, ``MedMNIST2D/models.py`` and ``MedMNIST3D/models.py``) uses the
small-image ResNet of kuangliu/pytorch-cifar: a 3x3 stride-1 stem without max-pooling, blocks whose
projection shortcut is called ``shortcut``, adaptive average pooling and a head called ``linear``.
The released 28 px models were trained with ``--as_rgb``, so they take three channels (grey images
are repeated).

The 3D models are that 2D network converted by the ``acsconv`` converters (ACS, 2.5D, or 3D with
I3D-style inflation). Converting keeps every parameter name; only the layer types change:
- ``acs``: ``ACSConv``, whose weight keeps the 2D shape (out, in, k, k) and whose output channels
  are split in three groups convolving along the axial, coronal and sagittal planes;
- ``2.5d``: ``Conv2_5d``, a Conv3d with kernel (1, k, k), padding (0, p, p) and stride s on all axes;
- ``3d``: ``nn.Conv3d`` with kernel, stride and padding repeated on three axes.
Batch norm and pooling become their 3D versions. acsconv's converters cannot run on current torch
(they pass BatchNorm's new ``bias`` flag a tensor), so this module builds the converted network
directly with the same operators; `tests/zoo/test_medmnist_archs.py` checks the result against the
layouts recorded from the official code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.errors import CardError
from securitynet.zoo.archs import register_architecture

Conversion = Literal["2d", "acs", "2.5d", "3d"]
CONVERSIONS_3D: tuple[str, ...] = ("acs", "2.5d", "3d")

# Blocks per stage: the usual ResNet-18 and ResNet-50 depths.
_DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    50: ("bottleneck", (3, 4, 6, 3)),
}


@dataclass(frozen=True)
class _Ops:
    """The layer types of one conversion: every block is written once against these."""

    conv_class: type[nn.Module]  # Conv2d, ACSConv, Conv2_5d or Conv3d: all take (in, out, k, stride, padding, bias)
    norm: type[nn.Module]
    pool: Callable[[], nn.Module]

    def conv(self, in_planes: int, out_planes: int, kernel: int, stride: int, padding: int) -> nn.Module:
        return self.conv_class(in_planes, out_planes, kernel, stride=stride, padding=padding, bias=False)


def _ops(conversion: str) -> _Ops:
    if conversion == "2d":
        return _Ops(nn.Conv2d, nn.BatchNorm2d, lambda: nn.AdaptiveAvgPool2d((1, 1)))
    if conversion not in CONVERSIONS_3D:
        raise CardError(
            f"unknown MedMNIST conversion {conversion!r}; expected one of {', '.join(('2d', *CONVERSIONS_3D))}"
        )
    from acsconv.operators import ACSConv, Conv2_5d

    conv_class = {"acs": ACSConv, "2.5d": Conv2_5d, "3d": nn.Conv3d}[conversion]
    return _Ops(conv_class, nn.BatchNorm3d, lambda: nn.AdaptiveAvgPool3d((1, 1, 1)))


def _shortcut(ops: _Ops, in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """Identity (an empty Sequential, as in the checkpoints) or a 1x1 projection with batch norm."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(ops.conv(in_planes, out_planes, 1, stride, 0), ops.norm(out_planes))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, ops: _Ops, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = ops.conv(in_planes, planes, 3, stride, 1)
        self.bn1 = ops.norm(planes)
        self.conv2 = ops.conv(planes, planes, 3, 1, 1)
        self.bn2 = ops.norm(planes)
        self.shortcut = _shortcut(ops, in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, ops: _Ops, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = ops.conv(in_planes, planes, 1, 1, 0)
        self.bn1 = ops.norm(planes)
        self.conv2 = ops.conv(planes, planes, 3, stride, 1)  # the stride sits on the 3x3 conv here
        self.bn2 = ops.norm(planes)
        self.conv3 = ops.conv(planes, planes * self.expansion, 1, 1, 0)
        self.bn3 = ops.norm(planes * self.expansion)
        self.shortcut = _shortcut(ops, in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class MedMNISTResNet(nn.Module):
    """The benchmark's small-image ResNet in 2D or one of its 3D conversions."""

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, conversion: str = "2d") -> None:
        super().__init__()
        if depth not in _DEPTHS:
            raise CardError(f"MedMNIST ResNet depth must be one of {sorted(_DEPTHS)}, got {depth}")
        if num_classes < 1 or in_channels < 1:
            raise CardError(
                f"MedMNIST ResNet needs positive num_classes and in_channels, got {num_classes} and {in_channels}"
            )
        kind, blocks = _DEPTHS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        ops = _ops(conversion)
        self.depth, self.conversion = depth, conversion
        self.conv1 = ops.conv(in_channels, 64, 3, 1, 1)
        self.bn1 = ops.norm(64)
        in_planes = 64
        stages = []
        for planes, count, stride in zip((64, 128, 256, 512), blocks, (1, 2, 2, 2), strict=True):
            layers = []
            for s in [stride] + [1] * (count - 1):
                layers.append(block(ops, in_planes, planes, s))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = ops.pool()
        self.linear = nn.Linear(512 * block.expansion, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.avgpool(out), 1))


@register_architecture("medmnist_resnet18_2d")
def medmnist_resnet18_2d(num_classes: int, in_channels: int = 3) -> MedMNISTResNet:
    return MedMNISTResNet(18, num_classes, in_channels, "2d")


@register_architecture("medmnist_resnet50_2d")
def medmnist_resnet50_2d(num_classes: int, in_channels: int = 3) -> MedMNISTResNet:
    return MedMNISTResNet(50, num_classes, in_channels, "2d")


@register_architecture("medmnist_resnet18_3d")
def medmnist_resnet18_3d(num_classes: int, in_channels: int = 3, conversion: str = "acs") -> MedMNISTResNet:
    _require_3d(conversion)
    return MedMNISTResNet(18, num_classes, in_channels, conversion)


@register_architecture("medmnist_resnet50_3d")
def medmnist_resnet50_3d(num_classes: int, in_channels: int = 3, conversion: str = "acs") -> MedMNISTResNet:
    _require_3d(conversion)
    return MedMNISTResNet(50, num_classes, in_channels, conversion)


def _require_3d(conversion: str) -> None:
    if conversion not in CONVERSIONS_3D:
        raise CardError(f"a MedMNIST 3D ResNet needs conversion in {CONVERSIONS_3D}, got {conversion!r}")
