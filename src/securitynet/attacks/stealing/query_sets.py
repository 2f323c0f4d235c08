"""Query sets of a stealing attack: the attacker's images, and the held-out images its surrogate is judged on.

Two kinds, as in the SecurityNet evaluation:

- *in-distribution*: images of the target's own dataset that are disjoint from the evaluation images.
  They come from the target's training split when one is present here (MNIST: the full "train", else the
  5,000-image "train_subset_5k"), and the evaluation images are the held-out split (MNIST "test"). When the
  dataset has only one split here (ImageNet "val"), that split is carved into an evaluation part and a
  query pool, disjoint (by near-duplicate group where the split has groups).
- *out-of-distribution*: another dataset's images, converted to the target's input (channels and size),
  e.g. GTSRB for an MNIST target, ImageNet for a CIFAR target. The evaluation images are the target's
  held-out split.

Query images are never evaluation images: `check_disjoint` is called on every pair and raises otherwise,
and both index lists are recorded with the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from securitynet.attacks.base import AttackError
from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.data import ArraySplit, DatasetInfo, disjoint_subsets, get_dataset
from securitynet.errors import DatasetError
from securitynet.seeds import derive_seed

IN_DISTRIBUTION = "in-distribution"
OUT_OF_DISTRIBUTION = "out-of-distribution"

# The attacker's out-of-distribution images when the parameters name none: a dataset of another task at a
# similar or larger resolution, as in the SecurityNet evaluation (ImageNet for natural-image targets).
DEFAULT_OOD_DATASET: dict[str, str] = {
    "mnist": "gtsrb",
    "fashionmnist": "gtsrb",
    "digits": "gtsrb",
    "cifar10": "imagenet",
    "cifar100": "imagenet",
    "svhn": "imagenet",
    "gtsrb": "imagenet",
    "cub200": "imagenet",
}

# When the only split is carved into evaluation and queries: at most this many evaluation images, and
# never more than half the split.
DEFAULT_CARVED_EVAL = 10_000

# ITU-R BT.601 luma, as PIL's convert("L"): colour query images for a grey target.
_LUMA = (0.299, 0.587, 0.114)

SplitLoader = Callable[[str, str], ArraySplit]  # (split, dataset) -> ArraySplit, e.g. ctx.load_split


@dataclass(frozen=True)
class QuerySets:
    """The attacker's pool of candidate query images and the evaluation images, with how they were chosen.

    ``pool`` holds images in their own dataset's layout; `take` converts the chosen ones to the target's
    input. ``description`` says which dataset and split each side is and why (stored with the result).
    """

    kind: str
    pool: ArraySplit
    evaluation: ArraySplit
    spec: InputSpec
    description: dict[str, Any] = field(default_factory=dict)

    def take(self, positions: np.ndarray) -> ArraySplit:
        """The pool images at ``positions`` (in this order), converted to the target's input layout."""
        chosen = self.pool.subset(np.asarray(positions, dtype=np.int64))
        return convert_split(chosen, self.spec)


def resolve_query_sets(
    card: ModelCard,
    kind: str,
    *,
    seed: int,
    query_dataset: str | None = None,
    query_split: str | None = None,
    eval_size: int | None = None,
    load_split: SplitLoader | None = None,
) -> QuerySets:
    """The query pool and evaluation images for a target, seeded by the job's seed (not by other params)."""
    if card.input is None:
        raise AttackError(f"model {card.id} has no input spec: query images cannot be converted for it")
    load = load_split or _load_split
    target_info = get_dataset(card.dataset)
    eval_split = target_info.nonmember_split
    if kind == IN_DISTRIBUTION:
        if query_dataset is not None and query_dataset != card.dataset:
            raise AttackError(
                f"an in-distribution query set comes from the target's dataset {card.dataset!r}, not "
                f"{query_dataset!r}; use query_set=out-of-distribution for another dataset"
            )
        split, why = _in_distribution_split(target_info, query_split)
        if eval_split is None or split == eval_split:
            return _carved(card, target_info, split, why, seed=seed, eval_size=eval_size, load=load)
        pool = load(split, card.dataset)
    elif kind == OUT_OF_DISTRIBUTION:
        dataset = query_dataset or DEFAULT_OOD_DATASET.get(card.dataset)
        if dataset is None:
            raise AttackError(
                f"no default out-of-distribution query set for {card.dataset} targets; "
                f"name one with query_dataset (known defaults: {sorted(DEFAULT_OOD_DATASET)})"
            )
        if dataset == card.dataset:
            raise AttackError(
                f"query_dataset {dataset!r} is the target's own dataset: that is an in-distribution query set"
            )
        query_info = get_dataset(dataset)
        _check_compatible(card.input, query_info)
        split, why = _out_of_distribution_split(query_info, query_split, defaulted=query_dataset is None)
        if eval_split is None:
            raise DatasetError(f"{card.dataset} has no held-out split to evaluate a stolen model on")
        pool = load(split, dataset)
    else:
        raise AttackError(f"query_set must be {IN_DISTRIBUTION!r} or {OUT_OF_DISTRIBUTION!r}, got {kind!r}")
    evaluation = load(eval_split, card.dataset)
    if eval_size is not None and eval_size < len(evaluation):
        (evaluation,) = disjoint_subsets(
            evaluation, [eval_size], seed=derive_seed(seed, "stealing-evaluation", card.dataset, eval_split)
        )
    sets = QuerySets(
        kind=kind, pool=pool, evaluation=evaluation, spec=card.input,
        description={
            "query_set": kind, "query_dataset": pool.dataset, "query_split": pool.split, "pool_size": len(pool),
            "query_split_reason": why, "evaluation_dataset": evaluation.dataset,
            "evaluation_split": evaluation.split, "evaluation_size": len(evaluation),
        },
    )
    check_disjoint(sets.pool, sets.evaluation)
    return sets


def _load_split(split: str, dataset: str) -> ArraySplit:
    from securitynet.data import load_split

    return load_split(dataset, split)


def _in_distribution_split(info: DatasetInfo, requested: str | None) -> tuple[str, str]:
    if requested is not None:
        if requested not in info.splits:
            raise DatasetError(f"{info.name} has no split {requested!r}; its splits are {', '.join(info.splits)}")
        return requested, "given by query_split"
    member = info.member_split
    if member is not None:
        return member, f"the target's training split {member!r} (images disjoint from the held-out split)"
    if info.nonmember_split is None:
        raise DatasetError(f"{info.name} has neither a training nor a held-out split to draw queries from")
    only = info.nonmember_split
    return only, f"{info.name} has only {only!r} here: carved into queries and evaluation"


def _out_of_distribution_split(info: DatasetInfo, requested: str | None, *, defaulted: bool) -> tuple[str, str]:
    source = "the default out-of-distribution dataset" if defaulted else "query_dataset"
    if requested is not None:
        if requested not in info.splits:
            raise DatasetError(f"{info.name} has no split {requested!r}; its splits are {', '.join(info.splits)}")
        return requested, f"{info.name} ({source}), split given by query_split"
    split = info.member_split or info.nonmember_split
    if split is None:
        raise DatasetError(f"{info.name} has no split to draw query images from")
    return split, f"{info.name} ({source}), its split {split!r}"


def _carved(
    card: ModelCard, info: DatasetInfo, split: str, why: str, *, seed: int, eval_size: int | None, load: SplitLoader
) -> QuerySets:
    """One split, cut into evaluation images and a disjoint query pool (whole groups on one side)."""
    data = load(split, card.dataset)
    size = eval_size if eval_size is not None else min(DEFAULT_CARVED_EVAL, len(data) // 2)
    if not 0 < size < len(data):
        raise DatasetError(
            f"{card.dataset}/{split} has {len(data)} images: cannot hold out {size} for evaluation and query the rest"
        )
    carve_seed = derive_seed(seed, "stealing-carve", card.dataset, split)
    evaluation, pool = disjoint_subsets(data, [size, None], seed=carve_seed)
    sets = QuerySets(
        kind=IN_DISTRIBUTION, pool=pool, evaluation=evaluation, spec=card.input,  # type: ignore[arg-type]
        description={
            "query_set": IN_DISTRIBUTION, "query_dataset": card.dataset, "query_split": split, "pool_size": len(pool),
            "query_split_reason": why, "evaluation_dataset": card.dataset, "evaluation_split": split,
            "evaluation_size": len(evaluation), "carved": True,
        },
    )
    check_disjoint(sets.pool, sets.evaluation)
    return sets


def _check_compatible(spec: InputSpec, query: DatasetInfo) -> None:
    target_volume = len(spec.size) == 3
    query_volume = query.layout == "volume"
    if target_volume != query_volume:
        raise AttackError(
            f"{query.name} holds {'volumes' if query_volume else '2-D images'} but the target takes "
            f"{'volumes' if target_volume else '2-D images'}: choose a query dataset of the same kind"
        )


def check_disjoint(queries: ArraySplit, evaluation: ArraySplit) -> None:
    """Raise unless no query image is an evaluation image (same dataset and split: indices and groups apart)."""
    if queries.dataset != evaluation.dataset or queries.split != evaluation.split:
        return
    shared = np.intersect1d(queries.indices, evaluation.indices)
    if shared.size:
        raise DatasetError(
            f"query images overlap the evaluation images of {evaluation.dataset}/{evaluation.split}: "
            f"{shared.size} shared indices, e.g. {shared[:5].tolist()}"
        )
    if queries.groups is not None and evaluation.groups is not None:
        groups = np.intersect1d(queries.groups, evaluation.groups)
        if groups.size:
            raise DatasetError(
                f"query images share {groups.size} near-duplicate groups with the evaluation images of "
                f"{evaluation.dataset}/{evaluation.split}, e.g. {groups[:5].tolist()}"
            )


# --- conversion to the target's input ---------------------------------------------------------------


def convert_split(split: ArraySplit, spec: InputSpec) -> ArraySplit:
    """The split's images in the target's natural layout and size (a new ArraySplit, same indices)."""
    images = convert_images(split.images, spec)
    if images is split.images:
        return split
    return ArraySplit(
        images=images, labels=split.labels, dataset=split.dataset, split=split.split, indices=split.indices,
        groups=split.groups,
        source=f"{split.source}; converted to {spec.channels} channel(s) at {'x'.join(map(str, spec.size))}",
    )


def convert_images(images: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 images of any size and channel count -> uint8 images as the target's own dataset holds them.

    Grey becomes colour by repetition and colour becomes grey by luma; the size changes by bilinear
    (trilinear for volumes) interpolation, antialiased when shrinking. Images already in the target's
    layout are returned as they are.
    """
    volume = len(spec.size) == 3
    x = torch.from_numpy(np.array(images, copy=True))
    if volume:
        if x.ndim != 4:
            raise DatasetError(f"expected volumes (N, D, H, W) for a volume target, got shape {tuple(images.shape)}")
        x = x.unsqueeze(1)  # (N, 1, D, H, W)
    elif x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4:
        x = x.permute(0, 3, 1, 2)
    else:
        raise DatasetError(f"expected images (N, H, W) or (N, H, W, C), got shape {tuple(images.shape)}")
    same_size = tuple(x.shape[2:]) == tuple(spec.size)
    if same_size and x.shape[1] == spec.channels:
        return images
    x = x.to(torch.float32)
    have = x.shape[1]
    if have != spec.channels:
        if have == 1:
            x = x.expand(-1, spec.channels, *x.shape[2:])
        elif spec.channels == 1 and have == 3:
            weights = torch.tensor(_LUMA, dtype=torch.float32).view(1, 3, *([1] * (x.ndim - 2)))
            x = (x * weights).sum(dim=1, keepdim=True)
        else:
            raise DatasetError(f"cannot convert {have}-channel images to the target's {spec.channels} channels")
    if not same_size:
        shrinking = all(s <= h for s, h in zip(spec.size, x.shape[2:], strict=True))
        mode = "trilinear" if volume else "bilinear"
        x = F.interpolate(x, size=tuple(spec.size), mode=mode, align_corners=False, antialias=shrinking and not volume)
    out = x.round().clamp(0, 255).to(torch.uint8)
    if volume or spec.channels == 1:
        return out[:, 0].numpy()
    return out.permute(0, 2, 3, 1).contiguous().numpy()
