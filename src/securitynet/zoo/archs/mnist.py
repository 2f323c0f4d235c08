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


class _TwoConvTwoDense(nn.Module):
    """Two blocks of convolution, ReLU and 2x2 max-pool, a hidden fully connected layer with ReLU, the output
    layer: the shape of two public models. ``names`` are the four layers' names in their authors' state dicts."""

    def __init__(
        self, names: tuple[str, str, str, str], channels: tuple[int, int], kernel_size: int, padding: int,
        hidden: tuple[int, int], num_classes: int,
    ) -> None:
        super().__init__()
        (c1, c2), (flat, width) = channels, hidden
        layers = (
            nn.Conv2d(1, c1, kernel_size=kernel_size, padding=padding),
            nn.Conv2d(c1, c2, kernel_size=kernel_size, padding=padding),
            nn.Linear(flat, width),
            nn.Linear(width, num_classes),
        )
        for name, layer in zip(names, layers, strict=True):
            self.add_module(name, layer)
        self._names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1, conv2, dense, out = (getattr(self, name) for name in self._names)
        x = F.max_pool2d(F.relu(conv1(x)), 2)
        x = F.max_pool2d(F.relu(conv2(x)), 2)
        return out(F.relu(dense(torch.flatten(x, 1))))


@register_architecture("lenet5_advertorch")
class LeNet5Advertorch(_TwoConvTwoDense):
    """advertorch.test_utils.LeNet5: two 3x3 conv blocks (32, 64 channels, padding 1), 3136->200->10.

    Input 1x28x28 in [0, 1] without normalisation; outputs logits.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(("conv1", "conv2", "linear1", "linear2"), (32, 64), kernel_size=3, padding=1,
                         hidden=(7 * 7 * 64, 200), num_classes=num_classes)


@register_architecture("mnistnet_shrinkbench")
class MnistNetShrinkbench(_TwoConvTwoDense):
    """shrinkbench.models.MnistNet: 5x5 convs 1->20->50 (no padding), max-pool 2, 800->500->10.

    Input normalised with mean 0.1307, std 0.3081; outputs logits.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(("conv1", "conv2", "fc1", "fc2"), (20, 50), kernel_size=5, padding=0,
                         hidden=(4 * 4 * 50, 500), num_classes=num_classes)


@register_architecture("badnet_verazuo")
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


@register_architecture("mlp_cs612")
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
