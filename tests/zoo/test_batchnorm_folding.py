"""The folded copy Neural Cleanse optimises through: same outputs, no batch norm left, frozen, layout kept;
networks it cannot fold are used as they are."""

from __future__ import annotations

import torch
import torch.nn as nn

from securitynet.zoo.batchnorm_folding import folded_copy, has_batch_norm


def _conv_bn_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                        nn.Flatten(), nn.Linear(32, 5))
    net[1].running_mean.uniform_(-0.5, 0.5)
    net[1].running_var.uniform_(0.3, 3.0)
    net[1].weight.data.uniform_(0.5, 2.0)
    return net.eval()


class _DataDependent(nn.Module):
    """Python control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _conv_bn_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) if x.sum() > 0 else -self.body(x)


def test_the_folded_copy_computes_the_same_function_without_batch_norm_or_gradients() -> None:
    net = _conv_bn_net()
    x = torch.rand(4, 3, 8, 8)
    folded = folded_copy(net, x)
    assert folded is not net and not has_batch_norm(folded) and has_batch_norm(net)
    assert not any(p.requires_grad for p in folded.parameters())
    torch.testing.assert_close(folded(x), net(x), rtol=1e-5, atol=1e-5)
    x.requires_grad_()
    folded(x)[:, 0].sum().backward()  # input gradients flow through the frozen copy
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_channels_last_network_stays_channels_last() -> None:
    net = _conv_bn_net().to(memory_format=torch.channels_last)
    folded = folded_copy(net, torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last))
    weight = next(m for m in folded.modules() if isinstance(m, nn.Conv2d)).weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_networks_it_cannot_or_need_not_fold_are_returned_as_they_are() -> None:
    x = torch.rand(2, 3, 8, 8)
    untraceable = _DataDependent().eval()
    assert folded_copy(untraceable, x) is untraceable
    training = _conv_bn_net().train()
    assert folded_copy(training, x) is training  # running statistics are not what a training net computes
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()).eval()
    assert folded_copy(plain, x) is plain
