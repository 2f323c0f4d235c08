"""The trainer's results pinned: a change to zoo/train.py that changes what a recipe trains must bump
TRAINER_VERSION (cached self-trained weights and recipe hashes depend on it), never slip in unnoticed.

The digests were recorded with torch 2.14.1 on a CPU with AVX512 kernels, one thread, before
`train_classifier` was split into named steps (and are unchanged after). Float summation order depends on
the torch version and the CPU's vector kernels, so elsewhere the test skips and says why.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from securitynet.catalog.card import InputSpec
from securitynet.zoo.train import TRAINER_VERSION, TrainRecipe, train_architecture

RECORDED_WITH = ("2.14.1", "AVX512", "2")  # torch, CPU capability, TRAINER_VERSION
SPEC = InputSpec(channels=1, size=(8, 8))
CNN_KWARGS = {"in_channels": 1, "input_size": 8, "channels": [8]}
# name -> recipe changes, soft labels?, (sha256 prefix of the trained state dict, final loss)
PINNED = {
    "hard_crop_sgd": (
        {"epochs": 2, "batch_size": 64, "augmentation": "flip_crop", "label_smoothing": 0.1}, False,
        ("e08ef95142e22dd4", 2.3051699007864412),
    ),
    "soft_steps_adam": (
        {"steps": 9, "batch_size": 33, "optimizer": "adam", "lr": 1e-3, "schedule": "none"}, True,
        ("2338d28b01af31b3", 1.4537211716777148),
    ),
}


def _digest(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.round(data.images[:301] * (255 / 16)).astype(np.uint8), data.target[:301].astype(np.int64)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_small_training_run_gives_the_recorded_weights(name, digits):
    here = (torch.__version__.split("+")[0], torch.backends.cpu.get_cpu_capability(), TRAINER_VERSION)
    if here != RECORDED_WITH:
        pytest.skip(f"digests recorded with torch/CPU kernels/trainer {RECORDED_WITH}, this is {here}")
    images, labels = digits
    changes, soft, recorded = PINNED[name]
    targets = np.eye(10, dtype=np.float32)[labels] * 0.8 + 0.02 if soft else None
    module, report = train_architecture(
        "small_cnn", images, None if soft else labels, soft_labels=targets, num_classes=10, input_spec=SPEC,
        recipe=TrainRecipe(seed=7).replace(**changes), arch_kwargs=CNN_KWARGS, device="cpu", num_threads=1,
    )
    assert (_digest(module), report.final_loss) == recorded, (
        "training gives other weights than recorded: if that is intended, bump TRAINER_VERSION"
    )
