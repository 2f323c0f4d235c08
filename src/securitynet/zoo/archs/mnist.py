"""The architectures of the five public MNIST models in ../shared/data/models/mnist.

None of them ships in a library, so each is written here from its authors' description, with module
names chosen so that the published state dicts load with ``strict=True`` (the names are the contract;
renaming a layer breaks loading). ReLUs are not in-place so that forward hooks and gradients of
white-box attacks see every activation.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.zoo.archs import register_architecture


class LeNet5Advertorch(nn.Module):
    """advertorch.test_utils.LeNet5: two 3x3 conv blocks (32, 64 channels, padding 1), 3136->200->10.

    Input 1x28x28 in [0, 1] without normalisation; outputs logits.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.linear1 = nn.Linear(7 * 7 * 64, 200)
        self.linear2 = nn.Linear(200, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.linear1(torch.flatten(x, 1)))
        return self.linear2(x)


class MnistNetShrinkbench(nn.Module):
    """shrinkbench.models.MnistNet: 5x5 convs 1->20->50 (no padding), max-pool 2, 800->500->10.

    Input normalised with mean 0.1307, std 0.3081; outputs logits.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, kernel_size=5)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class BadNetVerazuo(nn.Module):
    """verazuo/badnets-pytorch ``BadNet``: conv 5x5 1->16, avg-pool, conv 5x5 16->32, avg-pool, 512->512->10.

    The last block ends in a softmax, so the model outputs probabilities (its card says so). The state-dict
    keys are ``conv1.0``, ``conv2.0``, ``fc1.0``, ``fc2.0`` because each block is an nn.Sequential.
    Input (x/255 - 0.5) / 0.5.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        # The authors' fc1 input: 32 x 4 x 4 for 28 px grey images, 32 x 5 x 5 for 32 px colour ones.
        fc1_inputs = 512 if in_channels == 1 else 800
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 16, kernel_size=5), nn.ReLU(), nn.AvgPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, kernel_size=5), nn.ReLU(), nn.AvgPool2d(2))
        self.fc1 = nn.Sequential(nn.Linear(fc1_inputs, 512), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(512, num_classes), nn.Softmax(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        return self.fc2(self.fc1(torch.flatten(x, 1)))


class MlpCs612(nn.Module):
    """noye09/cs612_SMU_g4 ``MNISTNet``: 784->10->10->10->10 with ReLUs between, logits out.

    Takes the image tensor (N, 1, 28, 28) in [0, 1] and flattens it itself, like the original.
    """

    def __init__(self, num_classes: int = 10, in_features: int = 28 * 28, hidden: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, hidden)
        self.fc4 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


@register_architecture("lenet5_advertorch")
def lenet5_advertorch(num_classes: int = 10) -> nn.Module:
    return LeNet5Advertorch(num_classes)


@register_architecture("mnistnet_shrinkbench")
def mnistnet_shrinkbench(num_classes: int = 10) -> nn.Module:
    return MnistNetShrinkbench(num_classes)


@register_architecture("badnet_verazuo")
def badnet_verazuo(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    return BadNetVerazuo(num_classes, in_channels)


@register_architecture("mlp_cs612")
def mlp_cs612(num_classes: int = 10, in_features: int = 28 * 28, hidden: int = 10) -> nn.Module:
    return MlpCs612(num_classes, in_features, hidden)
