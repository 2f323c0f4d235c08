"""The one trainer: self-trained targets, shadow and reference models, stealing surrogates, trojaned zoos.

Images enter as uint8 arrays in the dataset's natural layout and go through the same preprocessing as
`TargetModel` (`images_to_tensor`), so a trained module can be wrapped in a card and attacked as is.
The whole training set is converted to one float tensor up front when it fits in memory; batches are
then index gathers, and augmentation is vectorised over the batch: no per-sample Python work. 2-D
convolutional networks train in channels-last layout (`zoo.memory_format`) and are handed back in the
layout they came in.

Determinism: given a recipe (its seed included) and a number of CPU threads, training on CPU is
bit-for-bit reproducible (the thread count changes the order of float summation; it is recorded in the
report). All
randomness comes from generators seeded by the recipe (data order and augmentation from a
`torch.Generator`, dropout and initialisation from torch's global generator inside a forked, seeded
state), so training neither depends on nor disturbs the caller's random state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.catalog.card import InputSpec
from securitynet.errors import TrainingError
from securitynet.job_identity import params_hash
from securitynet.progress import ProgressDisplay
from securitynet.zoo.devices import resolve_device
from securitynet.zoo.memory_format import as_layout, use_channels_last, usual_layout_after
from securitynet.zoo.target import images_to_tensor

# Bumped whenever a change to this file changes what a recipe trains, so recipe hashes (and with
# them cached self-trained weights) are invalidated instead of silently reused.
TRAINER_VERSION = "2"

OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["cosine", "none"]
AugmentationName = Literal["none", "crop", "flip_crop"]
SoftLabelLoss = Literal["kl", "soft_ce"]

_OPTIMIZERS = ("sgd", "adam", "adamw")
_SCHEDULES = ("cosine", "none")
_AUGMENTATIONS = ("none", "crop", "flip_crop")
_SOFT_LOSSES = ("kl", "soft_ce")
# Fields that limit a run but do not define what it trains; they stay out of the hash.
_NOT_HASHED = ("max_time_s",)

# Above this, the training set is converted batch by batch instead of all at once.
DEFAULT_PRECONVERT_BYTES = 2 << 30


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that decides what a training run produces; stored on cards and hashed for provenance.

    Exactly one of ``epochs`` and ``steps`` is set. ``augmentation`` is ``crop`` (random translation by up
    to 1/8 of the side, zero padded) or ``flip_crop`` (crop plus horizontal flips, for natural images; not
    for digits or text-like data). ``soft_label_loss`` applies when training on soft labels
    (distillation, stealing with posterior answers): ``kl`` (KL(target || model)) or ``soft_ce``
    (cross-entropy against the soft target); both have the same gradient and differ by the target
    entropy. ``max_time_s`` stops a run early (recorded in the report) and is not part of the hash.
    """

    epochs: int | None = 10
    steps: int | None = None
    batch_size: int = 128
    optimizer: OptimizerName = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    nesterov: bool = False
    schedule: ScheduleName = "cosine"
    augmentation: AugmentationName = "none"
    label_smoothing: float = 0.0
    soft_label_loss: SoftLabelLoss = "kl"
    seed: int = 0
    max_time_s: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if (self.epochs is None) == (self.steps is None):
            problems.append(f"set exactly one of epochs and steps (got epochs={self.epochs}, steps={self.steps})")
        if self.epochs is not None and self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.steps is not None and self.steps < 1:
            problems.append(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in _OPTIMIZERS:
            problems.append(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in _SCHEDULES:
            problems.append(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")
        if self.augmentation not in _AUGMENTATIONS:
            problems.append(f"augmentation must be one of {_AUGMENTATIONS}, got {self.augmentation!r}")
        if self.soft_label_loss not in _SOFT_LOSSES:
            problems.append(f"soft_label_loss must be one of {_SOFT_LOSSES}, got {self.soft_label_loss!r}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1 or not 0 <= self.label_smoothing < 1:
            problems.append("weight_decay must be >= 0, momentum and label_smoothing in [0, 1)")
        if self.max_time_s is not None and not self.max_time_s > 0:
            problems.append(f"max_time_s must be > 0 when set, got {self.max_time_s}")
        if problems:
            raise TrainingError("training recipe is invalid: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainRecipe:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(f"training recipe has unknown fields {unknown}; known: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainRecipe:
        """A copy with some fields changed; giving steps clears epochs and vice versa."""
        if "steps" in changes and "epochs" not in changes and changes["steps"] is not None:
            changes["epochs"] = None
        if "epochs" in changes and "steps" not in changes and changes["epochs"] is not None:
            changes["steps"] = None
        return dataclasses.replace(self, **changes)

    def hash(self) -> str:
        """Short stable hash of what this recipe trains (trainer version included)."""
        payload = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        payload["trainer_version"] = TRAINER_VERSION
        return params_hash(payload)


@dataclass
class TrainReport:
    """What a run did. ``epochs`` counts passes over the data (fractional when trained by steps)."""

    final_loss: float
    epochs: float
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    final_train_accuracy: float | None = None
    stopped_early: bool = False
    recipe_hash: str | None = None
    device: str | None = None
    num_examples: int | None = None
    threads: int | None = None
    channels_last: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def train_classifier(
    module: nn.Module,
    images: np.ndarray,
    labels: np.ndarray | Sequence[int] | None = None,
    *,
    input_spec: InputSpec,
    recipe: TrainRecipe | None = None,
    soft_labels: np.ndarray | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    description: str = "training",
    max_preconvert_bytes: int = DEFAULT_PRECONVERT_BYTES,
    num_threads: int | None = None,
    **overrides: Any,
) -> TrainReport:
    """Train ``module`` (which outputs logits) in place on uint8 images; returns a `TrainReport`.

    Targets are integer ``labels`` (cross-entropy) or ``soft_labels`` of shape (N, C) whose rows are
    probability vectors (KL or soft cross-entropy, per the recipe). Recipe fields can be given directly
    as keywords (``epochs=5, lr=0.1``) on top of ``recipe`` (default `TrainRecipe()`). The module is left
    in eval mode on ``device`` (default: the GPU when there is one).

    ``num_threads`` sets torch's CPU threads for the run (restored afterwards); None keeps torch's setting,
    which the engine's executors choose (a process pool splits the cores between its workers). Measured on
    a quiet 2-core machine, two threads beat one for every model the project trains, a digits MLP
    included (1.02 vs 1.06 ms a step) and a LeNet-5 on 28x28 most (11.9 vs 15.3 ms).
    """
    recipe = (recipe or TrainRecipe()).replace(**overrides) if overrides else (recipe or TrainRecipe())
    device = resolve_device(device)
    run = _set_up(module, images, labels, soft_labels, input_spec, recipe, device, max_preconvert_bytes, description)
    history: list[dict[str, float]] = []
    step = 0
    stopped_early = False
    cuda_devices = [device] if device.type == "cuda" else []
    threads = _cpu_threads(device, num_threads)
    with (
        torch.random.fork_rng(devices=cuda_devices),
        ProgressDisplay(run.total_steps, description, enabled=progress, transient=True, lines=False) as bar,
        _torch_threads(threads),
        usual_layout_after(module, run.channels_last),
    ):
        torch.manual_seed(recipe.seed)
        module.train()
        while step < run.total_steps and not stopped_early:
            step, stopped_early, epoch_record = _train_epoch(run, step, bar)
            history.append({"epoch": float(len(history) + 1), **epoch_record})
            bar.working_on(f"epoch {len(history)} loss {history[-1]['loss']:.3f}")
        used_threads = torch.get_num_threads() if device.type == "cpu" else None
    module.eval()
    return TrainReport(
        final_loss=history[-1]["loss"],
        epochs=step / run.batches_per_epoch,
        steps=step,
        seconds=time.perf_counter() - run.start,
        history=history,
        final_train_accuracy=history[-1]["accuracy"],
        stopped_early=stopped_early,
        recipe_hash=recipe.hash(),
        device=str(device),
        num_examples=run.num_examples,
        threads=used_threads,
        channels_last=run.channels_last,
    )


@dataclass
class _Run:
    """One training run once set up: the module, its inputs and targets, and the optimisation state."""

    module: nn.Module
    inputs: _DatasetTensor
    hard: torch.Tensor | None
    soft: torch.Tensor | None
    recipe: TrainRecipe
    description: str
    channels_last: bool
    num_examples: int
    batches_per_epoch: int
    total_steps: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    generator: torch.Generator
    start: float


def _set_up(
    module: nn.Module,
    images: np.ndarray,
    labels: np.ndarray | Sequence[int] | None,
    soft_labels: np.ndarray | None,
    input_spec: InputSpec,
    recipe: TrainRecipe,
    device: torch.device,
    max_preconvert_bytes: int,
    description: str,
) -> _Run:
    """Check the data against the module, move both to ``device`` and build optimizer, schedule and generator."""
    images = _check_images(images)
    num_examples = len(images)
    hard, soft = _check_targets(num_examples, labels, soft_labels)
    if recipe.augmentation != "none" and len(input_spec.size) != 2:
        raise TrainingError(f"augmentation {recipe.augmentation!r} applies to 2-D images, not volumes")

    module.to(device)
    inputs = _DatasetTensor(images, input_spec, device, max_preconvert_bytes)
    probe = inputs.batch(torch.arange(min(2, num_examples)))
    num_outputs = _probe_outputs(module, probe)
    inputs.channels_last = channels_last = use_channels_last(module, probe)
    if hard is not None and int(hard.max()) >= num_outputs:
        raise TrainingError(f"labels go up to {int(hard.max())} but the module has {num_outputs} outputs")
    if soft is not None and soft.shape[1] != num_outputs:
        raise TrainingError(f"soft labels have {soft.shape[1]} classes but the module has {num_outputs} outputs")

    batches_per_epoch = max(1, math.ceil(num_examples / recipe.batch_size))
    if num_examples % recipe.batch_size == 1 and batches_per_epoch > 1:
        batches_per_epoch -= 1  # a lone last example joins the previous batch (batch norm needs two)
    total_steps = recipe.steps if recipe.steps is not None else recipe.epochs * batches_per_epoch
    optimizer = _make_optimizer(module, recipe)
    return _Run(
        module=module,
        inputs=inputs,
        hard=hard.to(device) if hard is not None else None,
        soft=soft.to(device) if soft is not None else None,
        recipe=recipe,
        description=description,
        channels_last=channels_last,
        num_examples=num_examples,
        batches_per_epoch=batches_per_epoch,
        total_steps=total_steps,
        optimizer=optimizer,
        scheduler=_make_schedule(optimizer, recipe, total_steps),
        generator=torch.Generator().manual_seed(recipe.seed),
        start=time.perf_counter(),
    )


def _train_epoch(run: _Run, step: int, bar: ProgressDisplay) -> tuple[int, bool, dict[str, float]]:
    """One pass over the data (cut short at the last step or the time limit): (step, stopped early, record)."""
    recipe, device = run.recipe, run.inputs.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    stopped_early = False
    for batch_index in _epoch_batches(run.num_examples, recipe.batch_size, run.generator):
        x = run.inputs.batch(batch_index)
        if recipe.augmentation != "none":
            x = as_layout(_augment(x, recipe.augmentation, run.generator), run.channels_last)
        logits, reference, loss = _batch_loss(run, x, batch_index.to(device))
        if not torch.isfinite(loss):
            raise TrainingError(_divergence(run.description, loss.item(), step, recipe.lr))
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.scheduler is not None:
            run.scheduler.step()
        step += 1
        loss_sum += loss.detach() * len(batch_index)
        correct += (logits.detach().argmax(1) == reference).sum()
        seen += len(batch_index)
        bar.advance()
        if step >= run.total_steps:
            break
        if recipe.max_time_s is not None and time.perf_counter() - run.start > recipe.max_time_s:
            stopped_early = True
            break
    record = {
        "step": float(step),
        "loss": loss_sum.item() / seen,
        "accuracy": correct.item() / seen,
        "lr": run.optimizer.param_groups[0]["lr"],
        "seconds": time.perf_counter() - run.start,
    }
    return step, stopped_early, record


def _batch_loss(run: _Run, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, the labels accuracy is counted against, loss) of one batch: soft targets when given, else hard."""
    logits = run.module(x)
    if run.soft is not None:
        target_probs = run.soft[index]
        loss = _soft_loss(logits, target_probs, run.recipe.soft_label_loss)
        reference = run.hard[index] if run.hard is not None else target_probs.argmax(1)
    else:
        reference = run.hard[index]
        loss = F.cross_entropy(logits, reference, label_smoothing=run.recipe.label_smoothing)
    return logits, reference, loss


def init_module(
    architecture: str,
    num_classes: int | None,
    *,
    seed: int,
    arch_kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Build an untrained module whose initial weights depend only on ``seed`` (caller's RNG untouched)."""
    from securitynet.zoo.archs import build_architecture

    kwargs = dict(arch_kwargs or {})
    # A card may pin num_classes in its arch_kwargs (a one-unit binary head): that wins, as in zoo.loader.
    num_classes = kwargs.pop("num_classes", num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_architecture(architecture, num_classes, **kwargs)


def train_architecture(
    architecture: str,
    images: np.ndarray,
    labels: np.ndarray | Sequence[int] | None = None,
    *,
    num_classes: int,
    input_spec: InputSpec,
    recipe: TrainRecipe | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    **train_kwargs: Any,
) -> tuple[nn.Module, TrainReport]:
    """Build ``architecture`` seeded by the recipe's seed and train it: for shadows, references, surrogates."""
    recipe = recipe or TrainRecipe()
    overrides = {k: train_kwargs.pop(k) for k in list(train_kwargs) if k in _RECIPE_FIELDS}
    if overrides:
        recipe = recipe.replace(**overrides)
    module = init_module(architecture, num_classes, seed=recipe.seed, arch_kwargs=arch_kwargs)
    report = train_classifier(
        module, images, labels, input_spec=input_spec, recipe=recipe, **train_kwargs
    )
    return module, report


_RECIPE_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainRecipe))


# --- internals ------------------------------------------------------------------------------------


class _DatasetTensor:
    """The training images as model inputs: converted once when they fit, else batch by batch."""

    def __init__(self, images: np.ndarray, spec: InputSpec, device: torch.device, max_bytes: int) -> None:
        self.images = images
        self.spec = spec
        self.device = device
        per_image = spec.channels * math.prod(spec.size) * 4
        self.tensor: torch.Tensor | None = None
        self.channels_last = False  # set once the module is known to run channels-last
        if per_image * len(images) <= max_bytes:
            # Arrays from the data cache are read-only; torch.from_numpy warns on those (it would not write).
            tensor = images_to_tensor(images if images.flags.writeable else images.copy(), spec)
            self.tensor = tensor.to(device) if device.type != "cpu" else tensor

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        if self.tensor is not None:
            return as_layout(self.tensor[index.to(self.tensor.device)], self.channels_last)
        x = images_to_tensor(self.images[index.numpy()], self.spec).to(self.device, non_blocking=True)
        return as_layout(x, self.channels_last)


def _check_images(images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        kind = getattr(images, "dtype", type(images).__name__)
        raise TrainingError(f"training images must be a uint8 numpy array in the natural layout, got {kind}")
    if images.ndim < 3 or len(images) == 0:
        raise TrainingError(f"training images must be a non-empty batch (N, H, W[, C]), got shape {images.shape}")
    return images


def _divergence(description: str, loss: float, step: int, lr: float) -> str:
    """Why training stopped, naming the model being trained (a shadow, reference or surrogate: not the target)."""
    if step == 0:
        # Nothing has been learnt yet, so the step size cannot be at fault: the inputs or labels are.
        return (f"{description} diverged: loss was {loss} on the first step, before any update "
                "(its untrained outputs or its training labels are not finite)")
    return f"{description} diverged: loss became {loss} at step {step + 1} (learning rate {lr} too high?)"


def _check_targets(
    n: int, labels: np.ndarray | Sequence[int] | None, soft_labels: np.ndarray | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if labels is None and soft_labels is None:
        raise TrainingError("give labels or soft_labels to train on")
    hard = soft = None
    if labels is not None:
        array = np.asarray(labels)
        if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
            raise TrainingError(f"labels must be {n} integers, got dtype {array.dtype} and shape {array.shape}")
        if array.min() < 0:
            raise TrainingError(f"labels must be >= 0, got {int(array.min())}")
        hard = torch.from_numpy(array.astype(np.int64))
    if soft_labels is not None:
        array = np.asarray(soft_labels, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != n:
            raise TrainingError(f"soft labels must have shape ({n}, C), got {array.shape}")
        sums = array.sum(axis=1)
        if not np.isfinite(array).all() or array.min() < 0 or np.abs(sums - 1).max() > 1e-3:
            raise TrainingError("soft labels must be probability rows: finite, non-negative, summing to 1")
        soft = torch.from_numpy(array / sums[:, None])
    return hard, soft


@torch.no_grad()
def _probe_outputs(module: nn.Module, x: torch.Tensor) -> int:
    was_training = module.training
    module.eval()
    try:
        out = module(x)
    except RuntimeError as exc:
        raise TrainingError(f"the module cannot take inputs of shape {tuple(x.shape)}: {exc}") from None
    finally:
        module.train(was_training)
    if out.ndim != 2:
        raise TrainingError(f"the module must output (N, classes) logits, got shape {tuple(out.shape)}")
    return int(out.shape[1])


def _epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    batches = list(torch.randperm(n, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _make_optimizer(module: nn.Module, recipe: TrainRecipe) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the module has no trainable parameters")
    # Fused kernels cut the per-step overhead that dominates small models (about 30% on CPU).
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            fused=fused,
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=fused)
    return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=fused)


def _make_schedule(
    optimizer: torch.optim.Optimizer, recipe: TrainRecipe, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if recipe.schedule == "none":
        return None
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )


def _soft_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    log_probs = F.log_softmax(logits, dim=1)
    if kind == "kl":
        return F.kl_div(log_probs, target, reduction="batchmean")
    return -(target * log_probs).sum(dim=1).mean()


def _augment(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Random translation (zero padding, in normalised space) and, for flip_crop, horizontal flips."""
    n, _, height, width = x.shape
    pad = max(1, min(height, width) // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(height, device=x.device))[:, :, None]  # (n, H, 1)
    cols = (dx[:, None] + torch.arange(width, device=x.device))[:, None, :]  # (n, 1, W)
    if kind == "flip_crop":
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indexing on dims 0, 2, 3 puts the channel dim last: (n, H, W, C) -> back to (n, C, H, W).
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def _cpu_threads(device: torch.device, requested: int | None) -> int | None:
    if device.type != "cpu" or requested is None:
        return None
    if requested < 1:
        raise TrainingError(f"num_threads must be >= 1, got {requested}")
    return requested


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None or threads == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
