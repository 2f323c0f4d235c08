"""Architectures of the AdversaryLossLandscape release (Liu et al., NeurIPS 2020, arXiv 2006.08403).

Written from the description of the repository's ``util/models.py``: every model is parameterised by a
width factor w (the ``_8_`` / ``_16_`` in the checkpoint names), takes inputs in [0, 1] and normalises
nothing (its normalisation layer has bias 0 and scale 1, and holds no state-dict entries). Module names
follow the checkpoints' state-dict keys, recorded in ``catalog/cards/adversary_loss_landscape_layout.json``.

- ResNet: a CIFAR ResNet-18 (two basic blocks per stage) with 4w, 8w, 16w, 32w channels, no bias terms,
  a 1x1 convolution + batch norm shortcut where the shape changes, 4x4 average pooling, one linear layer.
- VGG: VGG-16 with batch norm on 4w..32w channels (conv 3x3 with bias, batch norm, ReLU; five 2x2 max
  pools), followed by one linear layer on the 32w features left at 1x1.
- LeNet (MNIST): conv 5x5 (2w) + ReLU + max pool, conv 5x5 (4w) + ReLU + max pool, fc 196w -> 64w, ReLU,
  fc 64w -> classes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.zoo.archs import register_architecture

# VGG-16 channel plan in units of the width factor; "M" is a 2x2 max pool.
_VGG16_PLAN: tuple[int | str, ...] = (4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32, "M")


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        # An empty Sequential is the identity and adds no state-dict entries, as in the release.
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class LossLandscapeResNet(nn.Module):
    def __init__(self, width: int = 8, num_classes: int = 10, blocks: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.features = 32 * width
        self.conv1 = nn.Conv2d(3, 4 * width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4 * width)
        self.relu1 = nn.ReLU()
        in_planes = 4 * width
        stages = []
        for index, (multiplier, count) in enumerate(zip((4, 8, 16, 32), blocks, strict=True)):
            planes = multiplier * width
            strides = [1 if index == 0 else 2] + [1] * (count - 1)
            layers = []
            for stride in strides:
                layers.append(_BasicBlock(in_planes, planes, stride))
                in_planes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.classifier = nn.Linear(self.features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.avg_pool2d(x, 4)
        return self.classifier(x.flatten(1))


class LossLandscapeVGG(nn.Module):
    def __init__(self, width: int = 8, num_classes: int = 10, bias: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_planes = 3
        for entry in _VGG16_PLAN:
            if entry == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            planes = int(entry) * width
            layers += [nn.Conv2d(in_planes, planes, 3, padding=1, bias=bias), nn.BatchNorm2d(planes), nn.ReLU()]
            in_planes = planes
        # The release ends the extractor with a 1x1 average pool (an identity); kept so indices stay aligned.
        layers.append(nn.AvgPool2d(kernel_size=1, stride=1))
        self.feature_extractor = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_extractor(x).flatten(1))


class LossLandscapeLeNet(nn.Module):
    def __init__(self, width: int = 16, num_classes: int = 10, bias: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2 * width, 5, stride=1, padding=2, bias=bias)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(2 * width, 4 * width, 5, stride=1, padding=2, bias=bias)
        self.relu2 = nn.ReLU()
        self.fc1 = nn.Linear(7 * 7 * 4 * width, 64 * width, bias=bias)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(64 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.relu1(self.conv1(x)), 2)
        x = F.max_pool2d(self.relu2(self.conv2(x)), 2)
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


@register_architecture("adversary_loss_landscape_resnet")
def adversary_loss_landscape_resnet(num_classes: int = 10, width: int = 8) -> nn.Module:
    return LossLandscapeResNet(width=width, num_classes=num_classes)


@register_architecture("adversary_loss_landscape_vgg")
def adversary_loss_landscape_vgg(num_classes: int = 10, width: int = 8, bias: bool = True) -> nn.Module:
    return LossLandscapeVGG(width=width, num_classes=num_classes, bias=bias)


@register_architecture("adversary_loss_landscape_lenet")
def adversary_loss_landscape_lenet(num_classes: int = 10, width: int = 16, bias: bool = True) -> nn.Module:
    return LossLandscapeLeNet(width=width, num_classes=num_classes, bias=bias)
