"""Surrogates: which architecture each kind is, seeded initialisation, logits from probability outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from securitynet.attacks import AttackError
from securitynet.attacks.stealing.metrics import stealing_metrics
from securitynet.attacks.stealing.surrogates import (
    LogOfProbabilities,
    build_surrogate,
    predict_labels,
    surrogate_spec,
)
from securitynet.catalog.card import InputSpec
from securitynet.zoo import train as trainer

from .conftest import digits_card

MNIST_SPEC = InputSpec(channels=1, size=(28, 28))


def test_each_kind_names_an_architecture_for_the_target_input() -> None:
    card = digits_card(input=InputSpec(channels=3, size=(32, 32)), arch_kwargs={"in_channels": 3, "input_size": 32})
    own = surrogate_spec("target-arch", card)
    assert (own.architecture, own.arch_kwargs) == ("mlp", {"in_channels": 3, "input_size": 32})
    wrn = surrogate_spec("wrn", card, wrn_depth=10, wrn_widen_factor=2)
    assert wrn.architecture == "wrn"
    assert wrn.arch_kwargs == {"in_channels": 3, "input_size": [32, 32], "depth": 10, "widen_factor": 2}
    assert surrogate_spec("small-cnn", card).architecture == "lenet"


def test_kinds_that_cannot_fit_the_target_are_refused() -> None:
    with pytest.raises(AttackError, match="names no architecture"):
        surrogate_spec("target-arch", digits_card(architecture=None))
    volume = digits_card(input=InputSpec(channels=1, size=(28, 28, 28)))
    with pytest.raises(AttackError, match="takes volumes"):
        surrogate_spec("wrn", volume)
    assert surrogate_spec("target-arch", volume).architecture == "mlp"


@pytest.mark.parametrize("kind", ["target-arch", "wrn", "small-cnn"])
def test_initial_weights_depend_on_the_seed_only(kind: str) -> None:
    card = digits_card(input=MNIST_SPEC, arch_kwargs={"in_channels": 1, "input_size": 28})
    spec = surrogate_spec(kind, card, wrn_depth=10, wrn_widen_factor=1)
    a, b, c = (build_surrogate(spec, 10, seed=s, trainer=trainer) for s in (1, 1, 2))
    first = lambda m: next(m.parameters()).detach()  # noqa: E731
    assert torch.equal(first(a), first(b)) and not torch.equal(first(a), first(c))
    out = a(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 10)


class _Softmaxed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(x.flatten(1)), dim=1)


def test_probability_outputs_become_logits_that_train() -> None:
    wrapped = LogOfProbabilities(_Softmaxed(), "probabilities")
    x = torch.randn(4, 1, 8, 8)
    logits = wrapped(x)
    assert torch.allclose(torch.log_softmax(logits, dim=1), logits, atol=1e-5)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 8, 8), dtype=np.uint8)
    labels = (images.reshape(64, -1).mean(1) > 127).astype(np.int64)
    report = trainer.train_classifier(wrapped, images, labels, input_spec=InputSpec(channels=1, size=(8, 8)),
                                      epochs=20, batch_size=16, device="cpu")
    assert report.history[-1]["loss"] < report.history[0]["loss"]
    predicted = predict_labels(wrapped, images, InputSpec(channels=1, size=(8, 8)), "cpu")
    assert predicted.shape == (64,) and predicted.dtype == np.int64


def test_stealing_metrics() -> None:
    got = stealing_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), np.array([0, 0, 2, 2]))
    assert got == {"accuracy": 0.75, "agreement": 0.75}
    with pytest.raises(ValueError, match="one label per held-out image"):
        stealing_metrics(np.array([0, 1]), np.array([0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="no held-out images"):
        stealing_metrics(np.array([]), np.array([]), np.array([]))


def test_the_small_cnn_starts_from_he_weights() -> None:
    card = digits_card(input=MNIST_SPEC, arch_kwargs={"in_channels": 1, "input_size": 28})
    module = build_surrogate(surrogate_spec("small-cnn", card), 10, seed=3, trainer=trainer)
    default = trainer.init_module("lenet", 10, seed=3, arch_kwargs={"in_channels": 1, "input_size": [28, 28]})
    for layer, plain in zip(module.modules(), default.modules(), strict=True):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            fan_in = layer.weight[0].numel()
            # He normal: std sqrt(2 / fan_in); PyTorch's default uniform has std 1 / sqrt(3 fan_in), ~2.4x smaller.
            assert abs(layer.weight.std().item() / (2 / fan_in) ** 0.5 - 1) < 0.25
            assert plain.weight.std().item() < 0.6 * layer.weight.std().item()
            assert torch.count_nonzero(layer.bias) == 0
