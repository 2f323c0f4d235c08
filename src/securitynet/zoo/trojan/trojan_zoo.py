"""The trojan zoo: clean models and backdoored twins with recorded ground truth, as the Trojan Detection
Challenge built its model sets.

A zoo is described by a `TrojanZooSpec` (dataset, counts, attacks, seed, training settings). Clean model j
gets an architecture (cycling through the spec's list) and a training seed; backdoored model j is the *twin*
of clean model j mod n_clean: same architecture, same training examples, same initialisation and data order,
and its training set is poisoned by a random backdoor: the attack cycles through the spec's attacks, the
target label is uniform, the trigger is drawn by `sample_trigger` (patch size, position and pattern; blend
alpha and noise; warp strength and field), the poison rate is uniform in ``poison_rate_range``. Every draw
comes from a generator seeded by (zoo seed, model index, attempt), so adding models never changes others.

After training, each model is measured on ``eval_size`` images of the dataset's held-out split: clean
accuracy, and for a backdoored model the attack success rate (share of triggered non-target images sent to
the target). A backdoored model whose success rate stays below ``min_attack_success`` is rejected and drawn
again (up to ``max_attempts``; the last attempt is kept and says so), as a trojan that does not work is no
ground truth. The card records it all: ``backdoor`` (attack, target label, trigger, poison rate, attack
success rate; ``attack: none`` for clean models), ``extra["trojan"]`` (zoo, twin, accuracy, attempts) and,
from the trainer, ``extra["poisoning"]`` (exactly which training images were poisoned). Purpose: self-trained.

Building is idempotent: models whose weight file still matches their card are reused, not retrained.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from securitynet.catalog.card import BackdoorInfo, InputSpec, ModelCard
from securitynet.errors import DatasetError, TrainingError
from securitynet.zoo.progress import ZooProgress
from securitynet.zoo.selftrained import SelfTrainedRecipe, save_card, train_selftrained
from securitynet.zoo.train import TrainRecipe
from securitynet.zoo.trojan.poison import PoisonSpec
from securitynet.zoo.trojan.triggers import ATTACK_TRIGGER_KIND, sample_trigger, trigger_from_dict

ZOO_TAG = "trojan-zoo"
# Bumped when a change here changes which models a spec produces (draws, ids, measurements).
TROJAN_ZOO_VERSION = "1"
ATTACKS: tuple[str, ...] = tuple(ATTACK_TRIGGER_KIND)

# Architecture settings per input family; kwargs that depend on the images (channels, size) are added.
ARCHITECTURE_KWARGS: dict[str, dict[str, Any]] = {
    "lenet": {},
    "small_cnn": {"channels": [16, 32], "hidden": 64},
    "mlp": {"hidden": [256, 128]},
}


@dataclass(frozen=True)
class DatasetDefaults:
    architectures: tuple[str, ...]
    epochs: int
    lr: float
    batch_size: int


# Short, fast recipes that still learn every trigger kind: Adam, no weight decay, a cosine schedule.
DATASET_DEFAULTS: dict[str, DatasetDefaults] = {
    "digits": DatasetDefaults(("small_cnn", "mlp"), epochs=30, lr=3e-3, batch_size=64),
    "mnist": DatasetDefaults(("lenet", "mlp"), epochs=4, lr=2e-3, batch_size=64),
    "fashionmnist": DatasetDefaults(("lenet", "mlp"), epochs=6, lr=2e-3, batch_size=64),
    "gtsrb": DatasetDefaults(("small_cnn", "lenet"), epochs=8, lr=2e-3, batch_size=128),
}
FALLBACK_DEFAULTS = DatasetDefaults(("small_cnn", "lenet"), epochs=6, lr=2e-3, batch_size=64)


@dataclass(frozen=True)
class TrojanZooSpec:
    """Everything that decides a trojan zoo. None fields take the dataset's defaults (`DATASET_DEFAULTS`)."""

    dataset: str
    n_clean: int
    n_trojaned: int
    attacks: tuple[str, ...] = ATTACKS
    seed: int = 0
    split: str | None = None
    train_size: int | None = None
    architectures: tuple[str, ...] | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    poison_rate_range: tuple[float, float] = (0.05, 0.2)
    # WaNet's noise mode: jittered warps per poisoned image, kept at their true labels. The paper uses 2; with
    # a few epochs of training that keeps the warp from being learnt at all, 0.5 still teaches its exact shape.
    wanet_noise_ratio: float = 0.5
    eval_size: int = 2000
    eval_split: str | None = None
    min_attack_success: float = 0.8
    max_attempts: int = 3
    name: str = "trojan"
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        problems = []
        if self.n_clean < 0 or self.n_trojaned < 0 or self.n_clean + self.n_trojaned == 0:
            problems.append(f"need at least one model (clean {self.n_clean}, trojaned {self.n_trojaned})")
        unknown = sorted(set(self.attacks) - set(ATTACKS))
        if unknown or (self.n_trojaned and not self.attacks):
            problems.append(f"attacks must be among {', '.join(ATTACKS)}, got {list(self.attacks)}")
        low, high = self.poison_rate_range
        if not 0 < low <= high < 1:
            problems.append(f"poison_rate_range must satisfy 0 < low <= high < 1, got {self.poison_rate_range}")
        if not 0 <= self.min_attack_success <= 1 or self.max_attempts < 1 or self.eval_size < 1:
            problems.append("min_attack_success must be in [0, 1], max_attempts and eval_size >= 1")
        if not self.name.replace("-", "").replace("_", "").isalnum():
            problems.append(f"name must be letters, digits, - and _, got {self.name!r}")
        if problems:
            raise TrainingError("trojan zoo spec is invalid: " + "; ".join(problems))

    def defaults(self) -> DatasetDefaults:
        return DATASET_DEFAULTS.get(self.dataset, FALLBACK_DEFAULTS)

    def resolved(self, split: str) -> TrojanZooSpec:
        """The spec with every default filled in (what is hashed and recorded)."""
        d = self.defaults()
        return TrojanZooSpec(
            **{
                **asdict(self),
                "split": split,
                "architectures": tuple(self.architectures or d.architectures),
                "epochs": self.epochs or d.epochs,
                "lr": self.lr or d.lr,
                "batch_size": self.batch_size or d.batch_size,
                "attacks": tuple(self.attacks),
                "poison_rate_range": tuple(self.poison_rate_range),
                "tags": tuple(self.tags),
            }
        )

    def family_hash(self) -> str:
        """Hash of what makes model j the same model in two zoos: everything but the counts and tags."""
        payload = {k: v for k, v in asdict(self).items() if k not in ("n_clean", "n_trojaned", "tags")}
        payload["version"] = TROJAN_ZOO_VERSION
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class ZooModelPlan:
    """One model of the zoo before training: its recipe and, for a backdoored model, its poisoning."""

    index: int
    recipe: SelfTrainedRecipe
    poison: PoisonSpec | None
    twin_of: str | None
    attempt: int = 0


def zoo_prefix(spec: TrojanZooSpec) -> str:
    return f"selftrained/{spec.name}-{spec.dataset}-{spec.family_hash()}"


def plan_clean(spec: TrojanZooSpec, index: int, input_spec: InputSpec, num_classes: int) -> ZooModelPlan:
    architecture = spec.architectures[index % len(spec.architectures)]
    seed = _draw_seed(spec.seed, "clean", index)
    return ZooModelPlan(index, _recipe(spec, f"c{index:03d}-clean-{architecture}", architecture, seed,
                                       input_spec, num_classes, ("clean",)), None, None)


def plan_trojaned(
    spec: TrojanZooSpec, index: int, attempt: int, input_spec: InputSpec, num_classes: int
) -> ZooModelPlan:
    """Backdoored model ``index``: the twin of clean model index mod n_clean, with a random backdoor."""
    attack = spec.attacks[index % len(spec.attacks)]
    twin = plan_clean(spec, index % spec.n_clean, input_spec, num_classes) if spec.n_clean else None
    if twin is not None:
        architecture, seed = twin.recipe.architecture, twin.recipe.train.seed
    else:
        architecture = spec.architectures[index % len(spec.architectures)]
        seed = _draw_seed(spec.seed, "twinless", index)
    rng = np.random.default_rng([spec.seed, 7, index, attempt])
    target = int(rng.integers(0, num_classes))
    trigger = sample_trigger(attack, tuple(input_spec.size), rng)
    low, high = spec.poison_rate_range
    poison = PoisonSpec(
        attack=attack,
        target_label=target,
        trigger=trigger.to_dict(),
        poison_rate=round(float(rng.uniform(low, high)), 4),
        seed=int(rng.integers(0, 2**31 - 1)),
        noise_ratio=spec.wanet_noise_ratio if attack == "wanet" else 0.0,
    )
    suffix = f"-a{attempt}" if attempt else ""
    recipe = _recipe(spec, f"t{index:03d}-{attack}-{architecture}{suffix}", architecture, seed, input_spec,
                     num_classes, ("backdoored", attack))
    return ZooModelPlan(index, recipe, poison, None if twin is None else twin.recipe.card_id, attempt)


def build_trojan_zoo(
    spec: TrojanZooSpec,
    *,
    store: Any | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    force: bool = False,
) -> list[ModelCard]:
    """Train (or reuse) the zoo's models; returns the kept cards (clean ones first), also put in ``store``."""
    from securitynet.data import get_dataset, load_split

    info = get_dataset(spec.dataset)
    if info.task != "multi-class":
        raise DatasetError(f"a trojan zoo needs single-label classification data; {spec.dataset} is {info.task}")
    split = spec.split or _member_split(info)
    spec = spec.resolved(split)
    data = load_split(spec.dataset, split)
    if data.images.ndim != 3 and not (data.images.ndim == 4 and data.images.shape[-1] in (1, 3)):
        raise DatasetError(f"a trojan zoo needs 2-D images; {spec.dataset} images are {data.images.shape[1:]}")
    input_spec = _input_spec(data.images)
    num_classes = info.num_classes
    evaluations: dict[str, _Evaluation] = {}  # built after the first model, which knows the training indices

    cards: list[ModelCard] = []
    with ZooProgress(progress, spec.n_clean + spec.n_trojaned, f"trojan zoo {spec.dataset}") as bar:
        for index in range(spec.n_clean):
            plan = plan_clean(spec, index, input_spec, num_classes)
            bar.start(plan.recipe.card_id)
            cards.append(_train_and_measure(plan, spec, info, data, evaluations, device, force))
            bar.done()
        for index in range(spec.n_trojaned):
            for attempt in range(spec.max_attempts):
                plan = plan_trojaned(spec, index, attempt, input_spec, num_classes)
                bar.start(plan.recipe.card_id)
                card = _train_and_measure(plan, spec, info, data, evaluations, device, force)
                if card.extra["trojan"]["accepted"]:
                    break
            cards.append(card)
            bar.done()
    if store is not None:
        store.upsert_cards(cards)
    return cards


# --- internals ------------------------------------------------------------------------------------


def _member_split(info: Any) -> str:
    """The first member split whose files are here (MNIST offline: the 5k training subset)."""
    from securitynet.data import locate_split

    errors = []
    for split in info.member_splits:
        try:
            locate_split(info, split)
            return split
        except DatasetError as exc:
            errors.append(str(exc))
    raise DatasetError(f"no training split of {info.name} is available: {'; '.join(errors)}")


def _input_spec(images: np.ndarray) -> InputSpec:
    channels = 1 if images.ndim == 3 else int(images.shape[-1])
    return InputSpec(channels=channels, size=tuple(int(v) for v in images.shape[1:3]))


def _draw_seed(seed: int, kind: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}|{kind}|{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _recipe(
    spec: TrojanZooSpec, name: str, architecture: str, seed: int, input_spec: InputSpec, num_classes: int,
    tags: Sequence[str],
) -> SelfTrainedRecipe:
    kwargs = {**ARCHITECTURE_KWARGS.get(architecture, {}), "in_channels": input_spec.channels,
              "input_size": list(input_spec.size)}
    train = TrainRecipe(
        epochs=spec.epochs, optimizer="adam", lr=spec.lr, weight_decay=0.0, batch_size=spec.batch_size,
        schedule="cosine", augmentation="none", seed=seed,
    )
    return SelfTrainedRecipe(
        card_id=f"{zoo_prefix(spec)}/{name}",
        dataset=spec.dataset,
        architecture=architecture,
        arch_kwargs=kwargs,
        train=train,
        split=spec.split or "train",
        train_size=spec.train_size,
        subset_seed=spec.seed,
        input_spec=input_spec,
        num_classes=num_classes,
        tags=(ZOO_TAG, f"{spec.name}-{spec.dataset}-{spec.family_hash()}", *tags, *spec.tags),
    )


@dataclass
class _Evaluation:
    split: str
    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray


def _evaluation_set(spec: TrojanZooSpec, info: Any, training_indices: Sequence[int] | None) -> _Evaluation:
    """``eval_size`` images of the evaluation split, the same for every model of the zoo.

    When the zoo trains on part of that same split (shadow zoos on the defender's held-out data), the
    models' training examples (``training_indices``, shared by the whole zoo) are left out.
    """
    from securitynet.data import load_split

    split = spec.eval_split or info.nonmember_split
    held_out = load_split(spec.dataset, split)
    allowed = np.arange(len(held_out))
    if split == spec.split:
        if training_indices is None:
            raise DatasetError(
                f"the zoo trains on all of {spec.dataset}/{split}; evaluate it on another split (eval_split)"
            )
        allowed = np.flatnonzero(~np.isin(held_out.indices, np.asarray(training_indices)))
    take = min(spec.eval_size, len(allowed))
    if take == 0:
        raise DatasetError(f"no images of {spec.dataset}/{split} are left to evaluate the trojan zoo on")
    positions = np.sort(np.random.default_rng([spec.seed, 11]).choice(allowed, size=take, replace=False))
    subset = held_out.subset(positions)
    return _Evaluation(split, subset.images, subset.labels, np.asarray(subset.indices))


def _train_and_measure(
    plan: ZooModelPlan, spec: TrojanZooSpec, info: Any, data: Any, evaluations: dict[str, _Evaluation],
    device: str | torch.device | None, force: bool,
) -> ModelCard:
    result = train_selftrained(plan.recipe, data=data, device=device, progress=False, force=force, poison=plan.poison)
    card = result.card
    measured = card.extra.get("trojan")
    if not result.trained and measured is not None and measured.get("zoo_version") == TROJAN_ZOO_VERSION:
        return card  # reused, and measured when it was made
    if "set" not in evaluations:
        evaluations["set"] = _evaluation_set(spec, info, card.training_indices)
    return _measure_and_save(card, plan, spec, evaluations["set"], device)


def _measure_and_save(
    card: ModelCard, plan: ZooModelPlan, spec: TrojanZooSpec, evaluation: _Evaluation,
    device: str | torch.device | None,
) -> ModelCard:
    from securitynet.zoo.loader import load_target

    target = load_target(card, device=device)
    clean_accuracy = float(np.mean(target.predict(evaluation.images) == evaluation.labels))
    trojan: dict[str, Any] = {
        "zoo": zoo_prefix(spec),
        "zoo_version": TROJAN_ZOO_VERSION,
        "zoo_spec": spec.to_dict(),
        "index": plan.index,
        "twin_of": plan.twin_of,
        "clean_accuracy": clean_accuracy,
        "evaluation": {"split": evaluation.split, "n": int(len(evaluation.labels)),
                       "indices_sha256": hashlib.sha256(evaluation.indices.astype("<i8").tobytes()).hexdigest()},
    }
    tags = list(card.tags)
    if plan.poison is None:
        backdoor = BackdoorInfo(attack="none")
        trojan["accepted"] = True
        notes = " Clean member of a trojan zoo (no poisoning)."
    else:
        poison = plan.poison
        others = evaluation.labels != poison.target_label
        triggered = trigger_from_dict(poison.trigger).apply(evaluation.images[others])
        success = float(np.mean(target.predict(triggered) == poison.target_label))
        accepted = success >= spec.min_attack_success
        trojan.update({
            "accepted": accepted,
            "attempt": plan.attempt,
            "attack_success_evaluated_on": int(others.sum()),
        })
        if not accepted:
            trojan["rejected_reason"] = (
                f"attack success {success:.3f} below {spec.min_attack_success}"
                + ("" if plan.attempt + 1 < spec.max_attempts else "; last attempt, kept anyway")
            )
        backdoor = BackdoorInfo(
            attack=poison.attack, target_label=poison.target_label, trigger=dict(poison.trigger),
            poison_rate=poison.poison_rate, attack_success_rate=success,
        )
        notes = (
            f" Backdoored ({poison.attack}, target label {poison.target_label}, poison rate {poison.poison_rate}): "
            "the poisoned training images are listed in extra.poisoning; clean accuracy and attack success rate "
            f"measured on {len(evaluation.labels)} images of {evaluation.split}."
        )
    if ZOO_TAG not in tags:
        tags.append(ZOO_TAG)
    updated = card.model_copy(update={
        "backdoor": backdoor,
        "tags": tags,
        "notes": (card.notes or "") + notes,
        "extra": {**card.extra, "trojan": trojan},
    })
    save_card(updated)
    return updated
