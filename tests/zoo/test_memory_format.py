"""Channels-last layout: taken by conv nets that run in it, refused by ones that cannot, same outputs, and
the trainer hands modules back in the layout they came in."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from securitynet.catalog.card import InputSpec
from securitynet.zoo.memory_format import as_layout, use_channels_last
from securitynet.zoo.train import init_module, train_classifier


class _ViewNet(nn.Module):
    """Flattens with .view: channels-last activations are not contiguous, so it cannot run that way."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).view(len(x), -1))


def _is_channels_last(module: nn.Module) -> bool:
    conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
    return conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()


def test_a_conv_net_runs_channels_last_with_the_same_outputs() -> None:
    module = init_module("lenet", 10, seed=0, arch_kwargs={"in_channels": 3, "input_size": [16, 16]}).train()
    reference = copy.deepcopy(module).eval()
    x = torch.rand(6, 3, 16, 16)
    assert use_channels_last(module, x[:2]) is True
    assert _is_channels_last(module) and module.training  # the probe leaves train mode as it was
    with torch.no_grad():
        torch.testing.assert_close(module.eval()(as_layout(x, True)), reference(x), atol=1e-5, rtol=1e-5)


def test_a_net_that_cannot_run_channels_last_is_left_as_it_was() -> None:
    module = _ViewNet()
    assert use_channels_last(module, torch.rand(2, 3, 8, 8)) is False
    assert module.conv.weight.is_contiguous()
    assert module(torch.rand(2, 3, 8, 8)).shape == (2, 5)


def test_mlps_and_volumes_are_not_touched() -> None:
    mlp = init_module("mlp", 10, seed=0, arch_kwargs={"in_channels": 1, "input_size": [8, 8]})
    assert use_channels_last(mlp, torch.rand(2, 1, 8, 8)) is False
    conv3d = nn.Sequential(nn.Conv3d(1, 2, 3), nn.Flatten())
    assert use_channels_last(conv3d, torch.rand(2, 1, 4, 4, 4)) is False


def test_the_trainer_trains_conv_nets_channels_last_and_hands_them_back_contiguous() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 12, 12), dtype=np.uint8)
    labels = (images.reshape(64, -1).mean(1) > 127).astype(np.int64)
    spec = InputSpec(channels=1, size=(12, 12))
    lenet = init_module("lenet", 2, seed=0, arch_kwargs={"in_channels": 1, "input_size": [12, 12]})
    report = train_classifier(lenet, images, labels, input_spec=spec, epochs=2, batch_size=16, device="cpu")
    assert report.channels_last is True and report.threads == torch.get_num_threads()
    assert all(p.is_contiguous() for p in lenet.parameters())
    mlp = init_module("mlp", 2, seed=0, arch_kwargs={"in_channels": 1, "input_size": [12, 12]})
    report = train_classifier(mlp, images, labels, input_spec=spec, epochs=2, batch_size=16, device="cpu",
                              num_threads=1)
    assert report.channels_last is False and report.threads == 1


def test_a_failed_training_run_still_hands_the_module_back_in_its_usual_layout() -> None:
    import pytest

    from securitynet.errors import TrainingError

    images = np.random.default_rng(0).integers(0, 256, size=(32, 12, 12), dtype=np.uint8)
    lenet = init_module("lenet", 2, seed=0, arch_kwargs={"in_channels": 1, "input_size": [12, 12]})
    with pytest.raises(TrainingError, match="loss became"):
        train_classifier(lenet, images, np.zeros(32, dtype=np.int64), input_spec=InputSpec(channels=1, size=(12, 12)),
                         epochs=5, batch_size=8, lr=1e30, device="cpu")
    assert all(p.is_contiguous() for p in lenet.parameters())
