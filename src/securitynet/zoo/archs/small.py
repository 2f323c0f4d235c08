"""Small architectures for self-trained targets, shadow and reference models, and stealing surrogates.

Every architecture (its class is its registered constructor) takes ``num_classes``, ``in_channels`` and
``input_size`` (an int for square images or an (H, W) pair), so one recipe works on 8x8 digits, 28x28
MNIST/MedMNIST and 32x32 CIFAR/GTSRB alike. Layers whose size depends on the input are computed from
``input_size`` at construction, never discovered lazily, so a state dict always fits the module a card describes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.zoo.archs import register_architecture


def _hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(input_size, int):
        return input_size, input_size
    size = tuple(int(v) for v in input_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"input_size must be an int or an (H, W) pair of positive ints, got {input_size!r}")
    return size  # type: ignore[return-value]


@register_architecture("mlp")
class MLP(nn.Module):
    """Fully connected network on the flattened image."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | Sequence[int] = 28,
        hidden: Sequence[int] = (256, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        height, width = _hw(input_size)
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = in_channels * height * width
        for width_out in hidden:
            layers += [nn.Linear(width_in, width_out), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width_out
        layers.append(nn.Linear(width_in, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_architecture("small_cnn")
class SmallCNN(nn.Module):
    """Conv-BN-ReLU blocks, each halving the resolution while it is above 4 px, then global pooling and a head.

    Stopping the downsampling at 4 px lets the same network run on 8x8 digits and on 32x32 images.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        height, width = _hw(input_size)
        blocks: list[nn.Module] = []
        width_in = in_channels
        for width_out in channels:
            blocks.append(nn.Conv2d(width_in, width_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                blocks.append(nn.BatchNorm2d(width_out))
            blocks.append(nn.ReLU(inplace=True))
            if min(height, width) > 4:
                blocks.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            width_in = width_out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width_in, hidden),
            nn.ReLU(inplace=True),
            *([nn.Dropout(dropout)] if dropout > 0 else []),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_architecture("lenet")
class LeNet(nn.Module):
    """LeNet-5 style: two 5x5 convolutions with 2x2 pooling, then 120-84-classes fully connected.

    Convolutions pad by 2 ("same"), as in the usual MNIST variant, so 8x8 inputs still fit; the size of the
    first linear layer follows from ``input_size``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (6, 16),
        hidden: Sequence[int] = (120, 84),
    ) -> None:
        super().__init__()
        height, width = _hw(input_size)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = c2 * (height // 4) * (width // 4)
        if flat == 0:
            raise ValueError(f"LeNet needs inputs of at least 4x4 pixels, got {height}x{width}")
        layers: list[nn.Module] = []
        width_in = flat
        for width_out in hidden:
            layers += [nn.Linear(width_in, width_out), nn.ReLU(inplace=True)]
            width_in = width_out
        layers.append(nn.Linear(width_in, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class _WideBasic(nn.Module):
    """Pre-activation residual block of Zagoruyko and Komodakis (2016)."""

    def __init__(self, width_in: int, width_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(width_in)
        self.conv1 = nn.Conv2d(width_in, width_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width_out)
        self.conv2 = nn.Conv2d(width_out, width_out, 3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.shortcut = (
            None
            if stride == 1 and width_in == width_out
            else nn.Conv2d(width_in, width_out, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        # The projection shortcut sees the activated input, as in the reference implementation.
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return self.conv2(out) + shortcut


@register_architecture("wrn")
class WideResNet(nn.Module):
    """WRN-d-k: three groups of (d-4)/6 wide basic blocks, widths 16k, 32k, 64k.

    The second and third groups downsample by 2 only while the feature map is above 2 px, so 8x8 digits
    end at 2x2, 28x28 at 7x7 and 32x32 at 8x8 before global average pooling.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 32,
        depth: int = 16,
        widen_factor: int = 4,
        dropout: float = 0.0,
        base_width: int = 16,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
        if widen_factor < 1:
            raise ValueError(f"WideResNet widen_factor must be >= 1, got {widen_factor}")
        height, width = _hw(input_size)
        blocks_per_group = (depth - 4) // 6
        widths = [base_width, base_width * widen_factor, 2 * base_width * widen_factor, 4 * base_width * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        groups: list[nn.Module] = []
        width_in = widths[0]
        for group, width_out in enumerate(widths[1:]):
            stride = 1
            if group > 0 and min(height, width) > 2:
                stride = 2
                height, width = (height + 1) // 2, (width + 1) // 2
            blocks = []
            for block in range(blocks_per_group):
                blocks.append(_WideBasic(width_in, width_out, stride if block == 0 else 1, dropout))
                width_in = width_out
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.Sequential(*groups)
        self.bn = nn.BatchNorm2d(width_in)
        self.fc = nn.Linear(width_in, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.groups(self.conv1(x))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)
