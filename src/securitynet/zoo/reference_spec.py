"""What a reference (shadow) model is: architecture, preprocessing, training recipe and training-set size.

Membership attacks choose the spec (`securitynet.attacks.membership.reference_choice`); the context's
reference-model provider (`securitynet.zoo.reference_cache`) trains and caches models of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from securitynet.catalog.card import InputSpec
from securitynet.zoo.train import TRAINER_VERSION, TrainRecipe

# Bump when a change trains different reference models for the same arguments (part of every cache key).
REFERENCE_VERSION = "1"

# For public targets, whose training recipe is unknown: trains the small architectures to (near) zero
# training loss, as most public models are, without weight decay or augmentation to hold it back.
DEFAULT_RECIPE = TrainRecipe(
    epochs=20, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=64, schedule="cosine", augmentation="none"
)


@dataclass(frozen=True)
class ReferenceSpec:
    """What a reference model is: architecture, preprocessing, recipe, and how many images it trains on."""

    dataset: str
    architecture: str
    arch_kwargs: dict[str, Any]
    input_spec: InputSpec
    num_classes: int
    recipe: TrainRecipe
    target_train_size: int | None  # the target's training-set size, when known
    origin: str  # why this architecture and recipe (recorded with every result)

    def identity(self) -> dict[str, Any]:
        """Everything that decides the trained weights, except the data and the model's own seed."""
        return {
            "reference_version": REFERENCE_VERSION,
            "trainer_version": TRAINER_VERSION,
            "dataset": self.dataset,
            "architecture": self.architecture,
            "arch_kwargs": self.arch_kwargs,
            "input_spec": self.input_spec.model_dump(mode="json"),
            "num_classes": self.num_classes,
            "recipe": {k: v for k, v in self.recipe.to_dict().items() if k not in ("seed", "max_time_s")},
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.identity(), "target_train_size": self.target_train_size, "origin": self.origin}

    def with_epochs(self, epochs: int) -> ReferenceSpec:
        """The same spec trained for ``epochs`` epochs."""
        return dataclasses.replace(self, recipe=self.recipe.replace(epochs=epochs))
