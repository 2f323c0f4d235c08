"""The self-trained digits zoo: small models on scikit-learn digits whose overfitting varies widely.

Digits (8x8 grey, about 900 training images) is easy: any model trained on the whole training split
generalises within a few points. Overfitting therefore comes from two knobs, crossed with the
architectures: the training-set size (the whole split, 200, or 60 images, a class-stratified subset drawn
with the zoo seed) and the training length (a couple of epochs to a few hundred, Adam without weight
decay or augmentation). Measured with `measure_gaps`, the gaps range from about 0 to over 15 points.

Card ids are ``selftrained/digits/<arch>-n<train size>-e<epochs>-s<seed>``. Building is idempotent: a model
whose weight file still matches its card is reused, not retrained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.errors import TrainingError
from securitynet.zoo.progress import ZooProgress
from securitynet.zoo.selftrained import SelfTrainedRecipe, train_selftrained
from securitynet.zoo.train import TrainRecipe

DATASET = "digits"
INPUT_SPEC = InputSpec(channels=1, size=(8, 8))
ZOO_TAG = "digits-zoo"

# Each architecture at the digits' 8x8 input; WRN-10-2 is the smallest WideResNet that still has
# residual groups at three widths.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "mlp": {"in_channels": 1, "input_size": 8, "hidden": [256, 128]},
    "small_cnn": {"in_channels": 1, "input_size": 8, "channels": [32, 64], "hidden": 128},
    "lenet": {"in_channels": 1, "input_size": 8},
    "wrn": {"in_channels": 1, "input_size": 8, "depth": 10, "widen_factor": 2},
}

# No weight decay, no augmentation, constant learning rate: nothing holds overfitting back, so the
# training length and set size alone decide it.
BASE_RECIPE = TrainRecipe(
    epochs=1, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=32, schedule="none", augmentation="none"
)


@dataclass(frozen=True)
class ZooMember:
    architecture: str
    train_size: int | None  # None: the whole training split
    epochs: int


# Whole split and few epochs: fitted, not overfitted. Whole split and long: a few points. 200 and 60
# images trained long: large gaps. The WRN is the costliest per step, so it gets fewer epochs.
FULL_ZOO: tuple[ZooMember, ...] = (
    ZooMember("mlp", None, 2),
    ZooMember("mlp", None, 30),
    ZooMember("mlp", 200, 100),
    ZooMember("mlp", 60, 300),
    ZooMember("small_cnn", None, 2),
    ZooMember("small_cnn", None, 15),
    ZooMember("small_cnn", 200, 100),
    ZooMember("small_cnn", 60, 300),
    ZooMember("lenet", None, 5),
    ZooMember("lenet", 60, 300),
    ZooMember("wrn", None, 2),
    ZooMember("wrn", 200, 25),
    ZooMember("wrn", 60, 100),
)

# A few seconds on 2 cores, still spanning a wide range of gaps (for tests and quick looks).
SMALL_ZOO: tuple[ZooMember, ...] = (
    ZooMember("mlp", None, 2),
    ZooMember("mlp", 60, 300),
    ZooMember("small_cnn", None, 3),
)

ZOOS = {"full": FULL_ZOO, "small": SMALL_ZOO}


def card_id(member: ZooMember, train_size: int, seed: int) -> str:
    return f"selftrained/{DATASET}/{member.architecture}-n{train_size}-e{member.epochs}-s{seed}"


def zoo_recipes(split_size: int, *, size: Literal["small", "full"] = "full", seed: int = 0) -> list[SelfTrainedRecipe]:
    """The recipes of the zoo, given the number of images in the digits training split."""
    if size not in ZOOS:
        raise TrainingError(f"digits zoo size must be one of {sorted(ZOOS)}, got {size!r}")
    recipes = []
    for member in ZOOS[size]:
        n = member.train_size or split_size
        recipes.append(
            SelfTrainedRecipe(
                card_id=card_id(member, n, seed),
                dataset=DATASET,
                architecture=member.architecture,
                arch_kwargs=ARCHITECTURES[member.architecture],
                train=BASE_RECIPE.replace(epochs=member.epochs, seed=seed),
                split="train",
                train_size=member.train_size,
                subset_seed=seed,
                input_spec=INPUT_SPEC,
                num_classes=10,
                tags=(ZOO_TAG, f"zoo-size-{size}"),
            )
        )
    return recipes


def build_digits_zoo(
    store: Any | None = None,
    *,
    size: Literal["small", "full"] = "full",
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    force: bool = False,
) -> list[ModelCard]:
    """Train (or reuse) the digits zoo; cards go into ``store`` when given. Returns the cards in zoo order."""
    from securitynet.data import load_split

    data = load_split(DATASET, "train")
    recipes = zoo_recipes(len(data), size=size, seed=seed)
    cards = []
    with ZooProgress(progress, len(recipes), "digits zoo") as bar:
        for recipe in recipes:
            bar.start(recipe.card_id)
            result = train_selftrained(recipe, data=data, store=store, device=device, progress=False, force=force)
            cards.append(result.card)
            bar.done()
    return cards


@dataclass
class GapRow:
    model_id: str
    train_size: int
    epochs: int
    train_accuracy: float
    test_accuracy: float

    @property
    def overfit_gap(self) -> float:
        return self.train_accuracy - self.test_accuracy


def measure_gaps(cards: list[ModelCard], *, device: str | torch.device | None = None) -> list[GapRow]:
    """Train accuracy on each model's own training examples, test accuracy on the digits test split."""
    from securitynet.data import load_split
    from securitynet.zoo.loader import load_target
    from securitynet.zoo.selftrained import training_examples

    test = load_split(DATASET, "test")
    rows = []
    for card in cards:
        target = load_target(card, device=device)
        members = training_examples(card)
        train_acc = float(np.mean(target.predict(members.images) == members.labels))
        test_acc = float(np.mean(target.predict(test.images) == test.labels))
        epochs = card.extra["recipe"]["train"]["epochs"]
        rows.append(GapRow(card.id, len(members), epochs, train_acc, test_acc))
    return rows
