"""Shadow and reference models: which architecture and recipe, which data, trained once and cached on disk.

Shadow-model attacks (Shokri et al. 2017), shadow thresholds (Song and Mittal 2021), LiRA (Carlini et al.
2022) and RMIA (Zarifzadeh et al. 2024) all need models that imitate the target, trained by the attacker
on data whose membership it knows. This module decides what they are and trains them through the shared
trainer (`securitynet.zoo.train`).

Which model (`reference_spec`), in order of preference:

1. a self-trained target (its card carries its recipe): the same architecture, arguments, input
   preprocessing and training recipe, and the same training-set size;
2. a target whose card names a buildable architecture with logit outputs, at most ``max_params``
   parameters, at most ``max_macs`` multiply-accumulates per image (counted over its convolution and
   linear layers on one input) and 2-D input of at most 64 px a side, i.e. trainable on a CPU in
   minutes (LeNet-5 class: a few million MACs; a CIFAR ResNet-20 has 41 million and falls back unless
   the budget is raised, e.g. on a GPU): that architecture with the target's preprocessing and
   `DEFAULT_RECIPE`, since a public model's recipe is unknown;
3. otherwise a documented fallback from `securitynet.zoo.archs.small` (``small_cnn`` by default) at
   the dataset's resolution capped at 32 px (images are resized on the way in), or an MLP on the
   flattened volume for 3-D data. Models with probability outputs (a softmax inside) also fall back:
   the trainer's loss expects logits.

Which data: every reference model trains on a subset of a *pool* of labelled images (one or more
`ArraySplit` parts, e.g. the attacker population, or evaluation candidates plus population for online
attacks); `ReferenceSet.trained_on` says, for any images by their split and source indices, which models
saw them.

Caching: a trained model is stored under ``<cache>/mia-references/<dataset>/<architecture>/<key>`` as
safetensors plus a JSON note, where the key hashes the spec (architecture, arguments, preprocessing,
recipe with the model's own seed), the dataset and the exact images it was trained on (split, source
and indices). Two targets of the same dataset and architecture asking for the same pool and seed
therefore reuse the same files; anything that would change the model changes the key. A file whose
sha256 does not match its note is retrained, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from securitynet import config
from securitynet.attacks.base import AttackError
from securitynet.catalog.card import InputSpec, ModelCard, WeightsSpec
from securitynet.zoo.target import TargetModel
from securitynet.zoo.train import TRAINER_VERSION, TrainRecipe

# Bump when a change here trains different reference models for the same arguments.
REFERENCE_VERSION = "1"
CACHE_FOLDER = "mia-references"

# For public targets, whose training recipe is unknown: trains the small architectures to (near) zero
# training loss, as most public models are, without weight decay or augmentation to hold it back.
DEFAULT_RECIPE = TrainRecipe(
    epochs=20, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=64, schedule="cosine", augmentation="none"
)
DEFAULT_MAX_PARAMS = 3_000_000
DEFAULT_MAX_MACS = 20_000_000
MAX_TRAINABLE_SIDE = 64
FALLBACK_SIDE = 32
FALLBACK_ARCHITECTURES = ("small_cnn", "wrn", "lenet", "mlp")


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


def reference_spec(
    card: ModelCard,
    *,
    epochs: int | None = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    max_macs: int = DEFAULT_MAX_MACS,
    fallback: str = "small_cnn",
) -> ReferenceSpec:
    """The reference-model spec for a target (see the module docstring for the order of preference).

    ``epochs`` overrides the number of training epochs of whichever recipe is chosen.
    """
    if fallback not in FALLBACK_ARCHITECTURES:
        raise AttackError(f"fallback architecture must be one of {FALLBACK_ARCHITECTURES}, got {fallback!r}")
    if card.num_classes is None:
        raise AttackError(f"{card.id}: the card does not say how many classes the model has")
    spec = (
        _self_trained_spec(card)
        or _same_architecture_spec(card, max_params, max_macs)
        or _fallback_spec(card, fallback, max_params, max_macs)
    )
    if epochs is not None:
        spec = dataclasses.replace(spec, recipe=spec.recipe.replace(epochs=epochs))
    return spec


def _self_trained_spec(card: ModelCard) -> ReferenceSpec | None:
    if not isinstance(card.extra.get("recipe"), dict):
        return None
    from securitynet.zoo.selftrained import recipe_from_card

    recipe = recipe_from_card(card)
    spec = recipe.input_spec or card.input
    if spec is None:
        return None
    return ReferenceSpec(
        dataset=card.dataset,
        architecture=recipe.architecture,
        arch_kwargs=dict(recipe.arch_kwargs),
        input_spec=spec,
        num_classes=int(card.num_classes),  # type: ignore[arg-type]
        recipe=recipe.train,
        target_train_size=card.train_size,
        origin="the target's own architecture and training recipe (self-trained, recipe on its card)",
    )


def multiply_accumulates(module: torch.nn.Module, spec: InputSpec) -> int:
    """Multiply-accumulates of one forward pass on one image, over convolution and linear layers."""
    total = 0

    def count(layer: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, torch.nn.Linear):
            total += layer.in_features * layer.out_features
        else:  # ConvNd: every output element costs (input channels / groups) x kernel volume
            kernel = int(np.prod(layer.kernel_size)) * layer.in_channels // layer.groups
            total += int(output[0].numel()) * kernel

    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    handles = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, spec.channels, *spec.size))
    finally:
        for handle in handles:
            handle.remove()
    return total


def _same_architecture_spec(card: ModelCard, max_params: int, max_macs: int) -> ReferenceSpec | None:
    from securitynet.zoo.archs import build_architecture

    spec = card.input
    if not card.architecture or spec is None or card.output_kind != "logits":
        return None
    if len(spec.size) != 2 or max(spec.size) > MAX_TRAINABLE_SIDE or spec.resize_shorter is not None:
        return None
    try:
        module = build_architecture(card.architecture, card.num_classes, **card.arch_kwargs)
    except Exception:  # not buildable here (unknown id, missing package): fall back, the reason is recorded
        return None
    params = sum(p.numel() for p in module.parameters())
    if params > max_params:
        return None
    try:
        macs = multiply_accumulates(module, spec)
    except Exception:  # the module cannot take the card's input: not a usable reference architecture
        return None
    if macs > max_macs:
        return None
    return ReferenceSpec(
        dataset=card.dataset,
        architecture=card.architecture,
        arch_kwargs=dict(card.arch_kwargs),
        input_spec=spec,
        num_classes=int(card.num_classes),  # type: ignore[arg-type]
        recipe=DEFAULT_RECIPE,
        target_train_size=card.train_size,
        origin=(
            f"the target's architecture ({card.architecture}, {params} parameters, {macs} multiply-accumulates "
            "per image) with the default reference recipe: the target's own recipe is unknown"
        ),
    )


def _fallback_spec(card: ModelCard, fallback: str, max_params: int, max_macs: int) -> ReferenceSpec:
    from securitynet.data import get_dataset

    info = get_dataset(card.dataset)
    shape = tuple(info.image_shape)
    why = _why_not_same(card, max_params, max_macs)
    if len(shape) == 3 and shape[-1] not in (1, 3, 4):  # (D, H, W) grey volume: an MLP on the flat volume
        depth, height, width = shape
        return ReferenceSpec(
            dataset=card.dataset,
            architecture="mlp",
            arch_kwargs={"in_channels": depth, "input_size": [height, width], "hidden": [256, 128]},
            input_spec=InputSpec(channels=1, size=(depth, height, width)),
            num_classes=int(card.num_classes),  # type: ignore[arg-type]
            recipe=DEFAULT_RECIPE,
            target_train_size=card.train_size,
            origin=f"fallback: an MLP on the flattened {depth}x{height}x{width} volume ({why})",
        )
    channels = shape[-1] if len(shape) == 3 else 1
    side = min(max(shape[:2]), FALLBACK_SIDE)
    kwargs: dict[str, Any] = {"in_channels": channels, "input_size": side}
    return ReferenceSpec(
        dataset=card.dataset,
        architecture=fallback,
        arch_kwargs=kwargs,
        input_spec=InputSpec(channels=channels, size=(side, side)),
        num_classes=int(card.num_classes),  # type: ignore[arg-type]
        recipe=DEFAULT_RECIPE,
        target_train_size=card.train_size,
        origin=f"fallback: {fallback} at {side}x{side} px with the default reference recipe ({why})",
    )


def _why_not_same(card: ModelCard, max_params: int, max_macs: int) -> str:
    if not card.architecture:
        return "the card names no architecture"
    if card.output_kind != "logits":
        return f"the target outputs {card.output_kind}, the trainer needs logits"
    if card.input is None:
        return "the card has no input spec"
    if len(card.input.size) != 2 or max(card.input.size) > MAX_TRAINABLE_SIDE or card.input.resize_shorter:
        return f"input {tuple(card.input.size)} is too large to train reference models on a CPU"
    return (
        f"{card.architecture} is not buildable here, or exceeds {max_params} parameters or {max_macs} "
        "multiply-accumulates per image"
    )


# --- pools and reference sets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Labelled images a reference model may train on: one or more ArraySplit parts of one dataset."""

    parts: tuple[Any, ...]

    def __post_init__(self) -> None:
        datasets = {p.dataset for p in self.parts}
        if len(datasets) != 1:
            raise AttackError(f"a reference pool must come from one dataset, got {sorted(datasets)}")

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def dataset(self) -> str:
        return self.parts[0].dataset

    def images(self) -> np.ndarray:
        return np.concatenate([p.images for p in self.parts])

    def labels(self) -> np.ndarray:
        return np.concatenate([p.labels for p in self.parts])

    def split_names(self) -> np.ndarray:
        return np.concatenate([np.full(len(p), p.split, dtype=object) for p in self.parts])

    def source_indices(self) -> np.ndarray:
        return np.concatenate([np.asarray(p.indices) for p in self.parts])

    def fingerprint(self) -> str:
        return hashlib.sha256("|".join(p.fingerprint() for p in self.parts).encode()).hexdigest()[:16]


@dataclass
class ReferenceModel:
    """One trained reference model: its target view, its training data by split, and where it is cached."""

    index: int
    key: str
    target: TargetModel
    trained_on: dict[str, np.ndarray]  # split name -> sorted source indices
    path: Path
    trained_now: bool
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReferenceSet:
    """Reference models trained on subsets of one pool."""

    spec: ReferenceSpec
    pool: Pool
    models: list[ReferenceModel]
    kind: str  # "offline" (never saw evaluation candidates) or "online" (each candidate IN for half)

    def __len__(self) -> int:
        return len(self.models)

    def trained_on(self, data: Any) -> np.ndarray:
        """Bool (models, len(data)): which models trained on each image of ``data`` (an ArraySplit)."""
        indices = np.asarray(data.indices)
        out = np.zeros((len(self.models), len(indices)), dtype=bool)
        for row, model in enumerate(self.models):
            seen = model.trained_on.get(data.split)
            if seen is not None:
                out[row] = np.isin(indices, seen)
        return out

    def balanced_sample(self, data: Any, index: int, *, avoid: Any = None) -> Any:
        """Model ``index``'s training images in ``data`` and as many of its other images (seeded), as one split.

        The attacker's labelled data for thresholds, shadow attack models and leave-one-out calibration:
        balanced like the evaluation sets, and far cheaper to query than the whole population. The draw
        depends only on the model and ``data``, so every attack asks the posterior cache for the same
        images. ``avoid`` (source indices of ``data``'s split) are left out of the non-member side.
        """
        inside = self.trained_on(data)[index]
        members = np.flatnonzero(inside)
        candidates = ~inside
        if avoid is not None:
            candidates &= ~np.isin(np.asarray(data.indices), np.asarray(avoid))
        outside = np.flatnonzero(candidates)
        if len(members) == 0 or len(outside) == 0:
            raise AttackError(f"reference model {index} has no training images or no held-out images in {data.split}")
        rng = np.random.default_rng(_seed(self.models[index].key, data.fingerprint(), "balanced"))
        chosen = rng.choice(outside, size=min(len(members), len(outside)), replace=False)
        return data.subset(np.sort(np.concatenate([members, chosen])))

    def describe(self) -> dict[str, Any]:
        """What to record with a result: the spec, the pool and every model's key and weight hash."""
        return {
            "kind": self.kind,
            "spec": self.spec.to_dict(),
            "pool": [
                {"dataset": p.dataset, "split": p.split, "n": len(p), "fingerprint": p.fingerprint()}
                for p in self.pool.parts
            ],
            "models": [
                {
                    "index": m.index,
                    "key": m.key,
                    "weight_hash": m.target.weight_hash,
                    "train_size": int(sum(len(v) for v in m.trained_on.values())),
                    "trained_now": m.trained_now,
                }
                for m in self.models
            ],
        }


def reference_train_size(spec: ReferenceSpec, available: int, requested: int | None = None) -> int:
    """Images per reference model: the target's training-set size, capped at half of what is ``available``.

    Half, so that every reference model leaves as many images of its pool out as it takes in (shadow
    attacks need both sides; LiRA and RMIA need every pool image OUT for about half the models).
    """
    cap = max(1, available // 2)
    wanted = requested if requested is not None else (spec.target_train_size or cap)
    return int(max(1, min(wanted, cap)))


def offline_references(
    spec: ReferenceSpec,
    population: Any,
    count: int,
    *,
    seed: int,
    train_size: int | None = None,
    device: torch.device | str | None = None,
) -> ReferenceSet:
    """``count`` models, each on its own random subset of the attacker population (no evaluation image).

    Model i's subset and seed depend only on (population, spec, seed, i), so asking for more models later
    reuses the first ones, and so do shadow attacks (which use the first few).
    """
    pool = Pool((population,))
    size = reference_train_size(spec, len(pool), train_size)
    masks = []
    for i in range(count):
        rng = np.random.default_rng(_seed(seed, pool.fingerprint(), size, "offline", i))
        mask = np.zeros(len(pool), dtype=bool)
        mask[rng.choice(len(pool), size=size, replace=False)] = True
        masks.append(mask)
    models = _train_all(spec, pool, masks, seed=seed, kind="offline", device=device)
    return ReferenceSet(spec=spec, pool=pool, models=models, kind="offline")


def online_references(
    spec: ReferenceSpec,
    candidates: list[Any],
    population: Any,
    count: int,
    *,
    seed: int,
    train_size: int | None = None,
    device: torch.device | str | None = None,
) -> ReferenceSet:
    """``count`` models such that every candidate is IN for exactly half of them (Carlini et al.'s keep matrix).

    Each model trains on its half of the candidates plus random population images up to the reference
    training-set size (the target's, capped by the data), so IN and OUT models differ only in the candidate.
    """
    if count < 2:
        raise AttackError(f"online reference attacks need at least 2 reference models, got {count}")
    cand_pool = Pool(tuple(candidates))
    n_cand = len(cand_pool)
    # Balanced inclusion: for every candidate, a random half of the models take it.
    rng = np.random.default_rng(_seed(seed, cand_pool.fingerprint(), population.fingerprint(), count, "keep"))
    order = np.argsort(rng.random((count, n_cand)), axis=0)
    keep = order < count // 2
    per_model_in = int(round(keep.sum(axis=1).mean()))
    total = reference_train_size(spec, 2 * per_model_in + len(population), train_size)
    fill = int(min(max(0, total - per_model_in), len(population) // 2))
    pool = Pool((*candidates, population))
    masks = []
    for i in range(count):
        mask = np.zeros(len(pool), dtype=bool)
        mask[:n_cand] = keep[i]
        if fill:
            fill_rng = np.random.default_rng(_seed(seed, pool.fingerprint(), fill, "fill", i))
            mask[n_cand + fill_rng.choice(len(population), size=fill, replace=False)] = True
        masks.append(mask)
    models = _train_all(spec, pool, masks, seed=seed, kind="online", device=device)
    return ReferenceSet(spec=spec, pool=pool, models=models, kind="online")


# --- training and the on-disk cache -------------------------------------------------------------------


def cache_root() -> Path:
    return config.cache_dir() / CACHE_FOLDER


def _seed(*parts: object) -> int:
    blob = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")


def _train_all(
    spec: ReferenceSpec, pool: Pool, masks: list[np.ndarray], *, seed: int, kind: str, device: Any
) -> list[ReferenceModel]:
    images, labels = pool.images(), pool.labels()
    splits, indices = pool.split_names(), pool.source_indices()
    models = []
    for i, mask in enumerate(masks):
        trained_on = {str(s): np.sort(indices[mask & (splits == s)]) for s in np.unique(splits[mask])}
        model_seed = _seed(seed, kind, i, "reference-model")
        models.append(
            _trained_model(spec, i, trained_on, images[mask], labels[mask], pool, model_seed, device)
        )
    return models


def _model_key(spec: ReferenceSpec, trained_on: dict[str, np.ndarray], pool: Pool, model_seed: int) -> str:
    sources = {p.split: p.source for p in pool.parts}
    digest = hashlib.sha256()
    digest.update(json.dumps(spec.identity(), sort_keys=True, default=str).encode())
    digest.update(f"|seed={model_seed}|".encode())
    for split in sorted(trained_on):
        digest.update(f"{split}\x1f{sources.get(split, '')}\x1f".encode())
        digest.update(np.ascontiguousarray(trained_on[split], dtype="<i8").tobytes())
    return digest.hexdigest()[:32]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name)


def _trained_model(
    spec: ReferenceSpec,
    index: int,
    trained_on: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    pool: Pool,
    model_seed: int,
    device: Any,
) -> ReferenceModel:
    from securitynet.zoo.devices import resolve_device
    from securitynet.zoo.train import init_module, train_classifier

    key = _model_key(spec, trained_on, pool, model_seed)
    folder = cache_root() / _safe(spec.dataset) / _safe(spec.architecture)
    path = folder / f"{key}.safetensors"
    note_path = folder / f"{key}.json"
    recipe = spec.recipe.replace(seed=model_seed)
    device = resolve_device(device)  # the job's device (ctx.device); alone: the GPU when there is one
    module = init_module(spec.architecture, spec.num_classes, seed=model_seed, arch_kwargs=spec.arch_kwargs)
    note = _read_note(note_path, path)
    trained_now = note is None
    if note is not None:
        from safetensors.torch import load_file

        module.load_state_dict(load_file(str(path)))
        sha256 = note["sha256"]
    else:
        report = train_classifier(
            module, np.ascontiguousarray(images), labels, input_spec=spec.input_spec, recipe=recipe,
            device=device, description=f"reference model {index} (trained by the attack)",
        )
        sha256 = _save(module, path)
        note = {
            "key": key,
            "sha256": sha256,
            "spec": spec.to_dict(),
            "model_seed": model_seed,
            "recipe_hash": recipe.hash(),
            "trained_on": {s: v.tolist() for s, v in trained_on.items()},
            "training_report": {k: v for k, v in report.to_dict().items() if k != "history"},
        }
        _atomic_write(note_path, json.dumps(note, indent=1, sort_keys=True).encode())
    card = ModelCard(
        id=f"reference/{_safe(spec.dataset)}/{key}",
        name=f"reference {key[:12]}",
        source="self-trained",
        architecture=spec.architecture,
        arch_kwargs=spec.arch_kwargs,
        dataset=spec.dataset,
        num_classes=spec.num_classes,
        train_size=int(len(images)),
        training_split=None,
        input=spec.input_spec,
        output_kind="logits",
        weights=WeightsSpec(urls=[path.resolve().as_uri()], filename=path.name, sha256=sha256, format="safetensors"),
        purpose="self-trained",
        tags=["mia-reference"],
        notes=f"membership-inference reference model ({spec.origin})",
        extra={"reference_key": key, "model_seed": model_seed},
    )
    target = TargetModel(card=card, module=module, weight_hash=f"sha256:{sha256}", device=device)
    return ReferenceModel(
        index=index, key=key, target=target, trained_on=trained_on, path=path, trained_now=trained_now,
        report=note.get("training_report", {}),
    )


def _read_note(note_path: Path, path: Path) -> dict[str, Any] | None:
    """The cached model's note when the weight file is present and matches it; None means train again."""
    if not (note_path.is_file() and path.is_file()):
        return None
    try:
        note = json.loads(note_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or note.get("sha256") != hashlib.sha256(path.read_bytes()).hexdigest():
        return None
    return note


def _save(module: torch.nn.Module, path: Path) -> str:
    from safetensors.torch import save

    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    payload = save(state, metadata={"format": "pt"})
    _atomic_write(path, payload)
    return hashlib.sha256(payload).hexdigest()


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
