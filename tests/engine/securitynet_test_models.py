"""Tiny digits models for engine tests: built by card (architecture `securitynet_test_models:TinyNet`).

Importable by name (tests/engine is put on sys.path and PYTHONPATH by conftest), so worker processes,
Ray workers and `securitynet evaluate` subprocesses build the same architecture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.catalog.card import InputSpec, ModelCard, WeightsSpec
from securitynet.zoo.weights import sha256_file


class TinyNet(nn.Module):
    """8x8 grey digits -> logits: a two-layer MLP, a few thousand parameters."""

    def __init__(self, num_classes: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def seven_outputs(num_classes: int = 10) -> TinyNet:
    """An architecture that ignores the card's number of classes: outputs of the wrong shape."""
    return TinyNet(num_classes=7)


class NaNNet(TinyNet):
    """A TinyNet whose fourth output is NaN for every image (a model gone bad)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return torch.cat([out[:, :3], torch.full_like(out[:, 3:4], float("nan")), out[:, 4:]], dim=1)


def nan_outputs(num_classes: int = 10) -> NaNNet:
    return NaNNet(num_classes=num_classes)


def make_tiny_card(
    folder: Path,
    index: int,
    *,
    train_images: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    steps: int = 0,
    arch_kwargs: dict | None = None,
    architecture: str = "TinyNet",
    with_sha256: bool = True,
) -> ModelCard:
    """Initialise a TinyNet with seed ``index``, train it ``steps`` full-batch Adam steps, save it, card it."""
    torch.manual_seed(index)
    model = globals()[architecture](**(arch_kwargs or {}))
    if steps:
        x = torch.from_numpy(np.array(train_images, dtype=np.float32) / 255.0)
        y = torch.from_numpy(np.array(train_labels, dtype=np.int64))
        optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(steps):
            optimiser.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimiser.step()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tiny_{index}.pt"
    torch.save(model.state_dict(), path)
    return ModelCard(
        id=f"test/tiny_{index}",
        name=f"tiny_{index}",
        source="file",
        architecture=f"securitynet_test_models:{architecture}",
        arch_kwargs=arch_kwargs or {},
        dataset="digits",
        num_classes=10,
        training_split="train",
        input=InputSpec(channels=1, size=(8, 8)),
        weights=WeightsSpec(filename=path.name, sha256=sha256_file(path) if with_sha256 else None),
        purpose="self-trained",
    )
