"""Self-trained models: train from a recipe, save the weights as safetensors, describe them with a ModelCard.

A self-trained model is catalogued like a public one: its card names the architecture, the input spec,
the weight file (a ``file://`` URL, file name and sha256) and, in ``extra``, the full recipe, the exact
training indices and a digest of the training data, so `securitynet.load(card)`, the store and every
attack treat it like any other model and a result on it can be traced back to how it was made.

Files live under ``config.home_dir()/"models"/"selftrained"/<dataset>/``, not in the cache: they cannot be
downloaded again. Each model has ``<name>-<recipe hash>.safetensors`` and ``<same>.card.json``; both are
written atomically (temporary file, then rename), the card last, so a card on disk always describes a
complete weight file. Training again with the same recipe and data reuses a file whose sha256 still
matches the card instead of retraining.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from securitynet import config
from securitynet.catalog.card import InputSpec, ModelCard, WeightsSpec
from securitynet.errors import CardError, DatasetError, TrainingError, WeightsError
from securitynet.files import atomic_write_bytes
from securitynet.job_identity import params_hash
from securitynet.zoo.target import TargetModel
from securitynet.zoo.train import TRAINER_VERSION, TrainRecipe, TrainReport, init_module, train_classifier
from securitynet.zoo.weights import sha256_file

SELF_TRAINED_DIR = "selftrained"
# Bumped when the card layout or subset selection of this file changes what a recipe produces.
SELFTRAINED_VERSION = "1"

# Architecture id -> the published "Model Type" vocabulary.
_MODEL_TYPES = {"mlp": "mlp", "small_cnn": "cnn", "lenet": "lenet", "wrn": "wide_resnet"}


@dataclass(frozen=True)
class SelfTrainedRecipe:
    """Everything that decides a self-trained model: data, architecture and training.

    ``train_size`` None trains on the whole ``split``; an int draws a class-stratified subset of that size
    with ``subset_seed`` (the exact indices are stored on the card). ``input_spec`` None derives one from
    the dataset (its channels and image size, pixels scaled to [0, 1], no normalisation).
    """

    card_id: str
    dataset: str
    architecture: str
    train: TrainRecipe
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    split: str = "train"
    train_size: int | None = None
    subset_seed: int = 0
    input_spec: InputSpec | None = None
    num_classes: int | None = None
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "card_id": self.card_id,
            "dataset": self.dataset,
            "architecture": self.architecture,
            "arch_kwargs": _jsonable(self.arch_kwargs),
            "split": self.split,
            "train_size": self.train_size,
            "subset_seed": self.subset_seed,
            "input_spec": None if self.input_spec is None else self.input_spec.model_dump(mode="json"),
            "num_classes": self.num_classes,
            "train": self.train.to_dict(),
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelfTrainedRecipe:
        data = dict(data)
        try:
            data["train"] = TrainRecipe.from_dict(data["train"])
            if data.get("input_spec") is not None:
                data["input_spec"] = InputSpec.model_validate(data["input_spec"])
            data["tags"] = tuple(data.get("tags", ()))
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainingError(f"self-trained recipe is malformed: {exc}") from None

    def hash(self) -> str:
        """Short hash of what this recipe produces; the card id and tags are names, not part of it."""
        payload = {k: v for k, v in self.to_dict().items() if k not in ("card_id", "tags", "train")}
        payload["train"] = self.train.hash()
        payload["selftrained_version"] = SELFTRAINED_VERSION
        return params_hash(payload)


@dataclass
class SelfTrainedResult:
    card: ModelCard
    trained: bool  # False when a verified earlier result was reused
    report: TrainReport | None = None


# (images, labels, source indices) of the training examples -> (images, labels, description): a change of the
# training data after the subset is drawn, e.g. backdoor poisoning; it must be deterministic.
PoisonFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, dict[str, Any]]]

# Counts real training runs in this process, so callers (and tests) can tell reuse from retraining.
TRAINING_RUNS = {"count": 0}


def recipe_from_card(card: ModelCard) -> SelfTrainedRecipe:
    """The recipe a self-trained card was made with (to train shadow or reference models the same way)."""
    recipe = card.extra.get("recipe")
    if not isinstance(recipe, dict):
        raise CardError(f"model card {card.id} carries no self-trained recipe in extra['recipe']")
    return SelfTrainedRecipe.from_dict(recipe)


def training_examples(card: ModelCard) -> Any:
    """The exact examples a self-trained model saw (its member pool), as an `ArraySplit`."""
    from securitynet.data import load_split

    if card.training_split is None:
        raise CardError(f"model card {card.id} does not record the split it was trained on")
    data = load_split(card.dataset, card.training_split)
    if card.training_indices is None:  # trained on the whole split
        return data
    return data.subset(data.positions_of(np.asarray(card.training_indices, dtype=np.int64)))


def train_like(
    card: ModelCard,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    seed: int,
    soft_labels: np.ndarray | None = None,
    role: str = "shadow",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[TargetModel, TrainReport]:
    """Train a fresh model the way ``card``'s self-trained model was made, on other data (shadow, reference).

    Same architecture, architecture arguments, input spec and training recipe; only the seed (initialisation
    and data order) and the data change. The model stays in memory, wrapped as a `TargetModel` whose card
    (id ``<card id>--<role>-s<seed>``, no weight file) says what it was trained like.
    """
    recipe = recipe_from_card(card)
    if card.input is None or card.num_classes is None:
        raise CardError(f"model card {card.id} lacks the input spec or number of classes needed to train like it")
    train = recipe.train.replace(seed=seed)
    module = init_module(recipe.architecture, card.num_classes, seed=seed, arch_kwargs=recipe.arch_kwargs)
    report = train_classifier(
        module, images, labels, input_spec=card.input, recipe=train, soft_labels=soft_labels, device=device,
        progress=progress, description=f"{role} like {card.id} (seed {seed})",
    )
    derived = card.model_copy(
        update={
            "id": f"{card.id}--{_safe_name(role)}-s{seed}",
            "name": f"{card.name} {role} (seed {seed})",
            "weights": WeightsSpec(),
            "train_size": len(images),
            "training_split": None,
            "training_indices": None,
            "tags": [*card.tags, role],
            "notes": f"trained in memory like {card.id} with seed {seed}, on data chosen by the caller",
            "extra": {
                "trained_like": card.id,
                "recipe": {**recipe.to_dict(), "train": train.to_dict()},
                "train_recipe_hash": train.hash(),
                "training_report": {k: v for k, v in report.to_dict().items() if k != "history"},
            },
        }
    )
    return TargetModel(card=derived, module=module, device=next(module.parameters()).device), report


def weight_path(recipe: SelfTrainedRecipe) -> Path:
    name = recipe.card_id.rsplit("/", 1)[-1]
    folder = config.home_dir() / "models" / SELF_TRAINED_DIR / _safe_name(recipe.dataset)
    return folder / f"{_safe_name(name)}-{recipe.hash()}.safetensors"


def train_selftrained(
    recipe: SelfTrainedRecipe,
    *,
    data: Any | None = None,
    store: Any | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    force: bool = False,
    poison: PoisonFn | None = None,
) -> SelfTrainedResult:
    """Train (or reuse) the model of ``recipe``; returns its card, also stored in ``store`` when given.

    ``data`` is the loaded split (an `ArraySplit`) when the caller already has it; it must be
    ``recipe.split`` of ``recipe.dataset``. ``poison`` changes the training examples after the subset is
    drawn (so a poisoned model and its clean twin share their members); its description goes into the
    card's ``extra["poisoning"]``, and the data digest (hence reuse) covers the poisoned data.
    """
    data = _load_data(recipe, data)
    indices = _subset_positions(data.labels, recipe.train_size, recipe.subset_seed, recipe.card_id)
    images, labels = data.images[indices], data.labels[indices]
    poisoning = None
    if poison is not None:
        images, labels, poisoning = poison(images, labels, np.asarray(data.indices)[indices])
    data_digest = _data_digest(images, labels)
    path = weight_path(recipe)
    if not force:
        card = _reusable_card(path, recipe, data_digest)
        if card is not None:
            if store is not None:
                store.upsert_card(card)
            return SelfTrainedResult(card=card, trained=False)

    info = _dataset_info(recipe.dataset)
    spec = recipe.input_spec or _default_input_spec(data.images)
    num_classes = recipe.num_classes or (info.num_classes if info is not None else int(labels.max()) + 1)
    module = init_module(recipe.architecture, num_classes, seed=recipe.train.seed, arch_kwargs=recipe.arch_kwargs)
    report = train_classifier(
        module,
        np.ascontiguousarray(images),
        labels,
        input_spec=spec,
        recipe=recipe.train,
        device=device,
        progress=progress,
        description=recipe.card_id,
    )
    TRAINING_RUNS["count"] += 1
    sha256, size = _save_weights_atomically(module, path)
    card = _make_card(
        recipe, info, spec, num_classes, path, sha256, size, report, data, indices, data_digest, poisoning
    )
    atomic_write_bytes(_card_path(path), json.dumps(card.to_dict(), indent=1, sort_keys=True).encode())
    if store is not None:
        store.upsert_card(card)
    return SelfTrainedResult(card=card, trained=True, report=report)


# --- internals ------------------------------------------------------------------------------------


def _load_data(recipe: SelfTrainedRecipe, data: Any | None) -> Any:
    if data is None:
        from securitynet.data import load_split

        return load_split(recipe.dataset, recipe.split)
    if (data.dataset, data.split) != (recipe.dataset, recipe.split):
        raise TrainingError(
            f"{recipe.card_id}: given data {data.dataset}/{data.split}, the recipe trains on "
            f"{recipe.dataset}/{recipe.split}"
        )
    return data


def _dataset_info(name: str) -> Any | None:
    from securitynet.data import get_dataset

    try:
        return get_dataset(name)
    except DatasetError:  # a dataset registered nowhere: the recipe must then say num_classes
        return None


def _subset_positions(labels: np.ndarray, size: int | None, seed: int, who: str) -> np.ndarray:
    """Positions of a class-stratified subset of ``size`` (all positions when None), sorted."""
    n = len(labels)
    if size is None or size == n:
        return np.arange(n)
    if not 1 <= size < n:
        raise TrainingError(f"{who}: train_size {size} must be between 1 and the split's {n} examples")
    from sklearn.model_selection import train_test_split

    classes = np.unique(labels)
    stratify = labels if labels.ndim == 1 and size >= len(classes) and n - size >= len(classes) else None
    chosen, _ = train_test_split(np.arange(n), train_size=size, stratify=stratify, random_state=seed)
    return np.sort(chosen)


def _data_digest(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(f"{images.shape}|{images.dtype}|{labels.shape}|".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def _default_input_spec(images: np.ndarray) -> InputSpec:
    if images.ndim == 3:
        return InputSpec(channels=1, size=tuple(images.shape[1:3]))
    if images.shape[-1] in (1, 3, 4):
        return InputSpec(channels=int(images.shape[-1]), size=tuple(images.shape[1:3]))
    return InputSpec(channels=1, size=tuple(images.shape[1:4]))


def _card_path(weights: Path) -> Path:
    return weights.with_name(weights.name.removesuffix(".safetensors") + ".card.json")


def _reusable_card(path: Path, recipe: SelfTrainedRecipe, data_digest: str) -> ModelCard | None:
    """The stored card when its weights still verify and it was made by this recipe from this data."""
    card_file = _card_path(path)
    if not (path.is_file() and card_file.is_file()):
        return None
    try:
        card = ModelCard.from_dict(json.loads(card_file.read_text(encoding="utf-8")), origin=str(card_file))
    except (OSError, ValueError, CardError):
        return None
    extra = card.extra
    if (
        card.id != recipe.card_id
        or extra.get("recipe_hash") != recipe.hash()
        or extra.get("data_sha256") != data_digest
        or card.weights.sha256 != sha256_file(path)
    ):
        return None
    return card


def _save_weights_atomically(module: torch.nn.Module, path: Path) -> tuple[str, int]:
    from safetensors.torch import save

    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    # One metadata key only: safetensors writes its metadata map in no fixed order, and the bytes (hence
    # the sha256) must be a function of the weights alone. Provenance lives in the card beside the file.
    payload = save(state, metadata={"format": "pt"})
    atomic_write_bytes(path, payload)
    return hashlib.sha256(payload).hexdigest(), len(payload)


def _make_card(
    recipe: SelfTrainedRecipe,
    info: Any | None,
    spec: InputSpec,
    num_classes: int,
    path: Path,
    sha256: str,
    size: int,
    report: TrainReport,
    data: Any,
    positions: np.ndarray,
    data_digest: str,
    poisoning: dict[str, Any] | None = None,
) -> ModelCard:
    from securitynet.version import __version__

    source_indices = np.asarray(data.indices)[positions]
    train = recipe.train
    length = f"{train.epochs} epochs" if train.epochs is not None else f"{train.steps} steps"
    subset = "all" if recipe.train_size is None else f"a stratified subset of {len(positions)}"
    try:
        card = ModelCard(
            id=recipe.card_id,
            name=recipe.card_id.rsplit("/", 1)[-1],
            source="self-trained",
            architecture=recipe.architecture,
            arch_kwargs=_jsonable(recipe.arch_kwargs),
            model_type=_MODEL_TYPES.get(recipe.architecture, recipe.architecture),
            family=recipe.architecture,
            dataset=recipe.dataset,
            data_category=getattr(info, "category", None),
            num_classes=num_classes,
            train_size=len(positions),
            training_split=recipe.split,
            # None: the whole split (a large split's index list would only bloat the card).
            training_indices=None if recipe.train_size is None else source_indices.astype(int).tolist(),
            input=spec,
            output_kind="logits",
            weights=WeightsSpec(
                urls=[path.resolve().as_uri()],
                filename=path.name,
                sha256=sha256,
                size_bytes=size,
                format="safetensors",
            ),
            purpose="self-trained",
            missing_reasons={
                "paper": "self-trained by SecurityNet; not published",
                "license": "self-trained by SecurityNet; no license attached",
            },
            tags=["self-trained", *recipe.tags],
            notes=(
                f"{recipe.architecture} trained by SecurityNet on {subset} of {recipe.dataset}/{recipe.split} "
                f"for {length} ({train.optimizer}, lr {train.lr}, weight decay {train.weight_decay}, "
                f"seed {train.seed}). Members are exactly training_indices of the training split "
                "(null: all of it)."
            ),
            extra={
                "recipe": recipe.to_dict(),
                "recipe_hash": recipe.hash(),
                "train_recipe_hash": train.hash(),
                "train_indices_sha256": hashlib.sha256(source_indices.astype("<i8").tobytes()).hexdigest(),
                "data_sha256": data_digest,
                "data_source": getattr(data, "source", None),
                "training_report": {k: v for k, v in report.to_dict().items() if k != "history"},
                "training_history": _thin(report.history, 50),
                **({"poisoning": _jsonable(poisoning)} if poisoning is not None else {}),
                "software": {
                    "securitynet": __version__,
                    "trainer_version": TRAINER_VERSION,
                    "torch": torch.__version__,
                    "numpy": np.__version__,
                    "python": platform.python_version(),
                },
            },
        )
    except ValueError as exc:
        raise TrainingError(f"{recipe.card_id}: the self-trained card is invalid: {exc}") from None
    return card


def save_card(card: ModelCard) -> Path:
    """Rewrite the card file of a self-trained model, e.g. after adding facts measured on the trained model.

    The card must describe the weight file beside it (same sha256), so a card on disk never claims other weights.
    """
    path = weight_path(recipe_from_card(card))
    if not path.is_file() or card.weights.sha256 != sha256_file(path):
        raise CardError(f"model card {card.id} does not describe the weight file {path}; train it first")
    card_file = _card_path(path)
    atomic_write_bytes(card_file, json.dumps(card.to_dict(), indent=1, sort_keys=True).encode())
    return card_file


def _thin(history: list[dict[str, float]], keep: int) -> list[dict[str, float]]:
    """At most about ``keep`` evenly spaced epochs, the last one always included."""
    if len(history) <= keep:
        return history
    stride = -(-len(history) // keep)
    return history[::stride] + ([history[-1]] if (len(history) - 1) % stride else [])


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively, so a recipe hashes the same before and after a JSON round trip."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return value


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    if not cleaned or cleaned.startswith("."):
        raise WeightsError(f"cannot build a file name from {name!r}")
    return cleaned
