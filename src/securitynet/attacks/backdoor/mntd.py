"""MNTD, Meta Neural Trojan Detection (Xu et al., IEEE S&P 2021), with jumbo learning and query tuning.

The defender trains a *shadow zoo* on clean data of their own: clean models and models backdoored by a
"jumbo" distribution of attacks (random patch and blend triggers, target labels, poison rates), built by
the trojan zoo generator (`securitynet.zoo.trojan`). A meta-classifier reads a model's posteriors on ``n_queries``
query images, concatenated, and outputs the probability that the model is backdoored. Queries and
meta-classifier are optimised jointly (query tuning): gradients flow through each shadow model into the
query pixels. Queries are kept on the uint8 grid (straight-through rounding), so the tuned queries are real
images that any target answers through its ordinary black-box ``predict_proba``: MNTD needs posterior access
to the target only.

A quarter of the shadow zoo (at least one clean and one backdoored model) is held out to report the
meta-classifier's validation AUROC before it is applied to anything. The trained meta-classifier and its
queries are cached on disk (in the context's ``cache_dir("mntd")``), keyed by the dataset, the shadow zoo's spec
and the meta-training parameters, so every later job (and every later run) reuses them instead of training the
shadow zoo again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field
from sklearn.metrics import roc_auc_score

from securitynet.attacks.backdoor.common import PixelModel, ground_truth
from securitynet.attacks.backdoor.detector import BackdoorDetector
from securitynet.attacks.base import AttackContext, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack
from securitynet.catalog.card import ModelCard
from securitynet.errors import SecurityNetError
from securitynet.files import atomic_path, atomic_write_text

MNTD_CACHE_VERSION = "1"
CACHE_PURPOSE = "mntd"  # the context's cache folder (`securitynet.cache_contents` lists it as "backdoor-meta")


class MntdParams(AttackParams):
    n_shadow_clean: int = Field(24, ge=2, description="clean shadow models")
    n_shadow_trojaned: int = Field(24, ge=2, description="backdoored shadow models (jumbo distribution)")
    shadow_attacks: str = Field("badnets,blended", description="attacks of the jumbo distribution, comma separated")
    shadow_split: str | None = Field(None, description="the defender's clean data (default: the held-out split)")
    shadow_train_size: int = Field(2000, ge=100, description="images each shadow model is trained on")
    shadow_architectures: str | None = Field(None, description="comma separated (default: the zoo's defaults)")
    shadow_epochs: int | None = Field(None, ge=1, description="default: the zoo's default for the dataset")
    shadow_seed: int = Field(1000, description="seed of the shadow zoo (kept apart from evaluated zoos' seeds)")
    n_queries: int = Field(10, ge=1, description="query images the meta-classifier reads")
    meta_hidden: int = Field(20, ge=1, description="hidden units of the meta-classifier")
    meta_epochs: int = Field(60, ge=1, description="passes over the shadow models")
    meta_lr: float = Field(1e-2, gt=0, description="Adam learning rate of meta-classifier and queries")
    query_tuning: bool = Field(True, description="optimise the queries jointly (else random fixed queries)")
    threshold: float = Field(0.5, gt=0, lt=1, description="meta-classifier probability above which a model is flagged")


class MetaClassifier(nn.Module):
    """Posteriors on the queries (flattened) -> one logit, "backdoored"."""

    def __init__(self, n_queries: int, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_queries * num_classes, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, posteriors: torch.Tensor) -> torch.Tensor:
        return self.net(posteriors.reshape(1, -1))[0, 0]


@dataclass
class TrainedMeta:
    meta: MetaClassifier
    queries: np.ndarray  # uint8, natural layout
    record: dict[str, Any]  # provenance: shadow zoo, validation AUROC, timings


class MntdError(SecurityNetError):
    """The shadow zoo cannot be built, or the cached meta-classifier does not fit the target."""


def shadow_spec(dataset: str, params: MntdParams) -> Any:
    from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec

    return TrojanZooSpec(
        dataset=dataset,
        n_clean=params.n_shadow_clean,
        n_trojaned=params.n_shadow_trojaned,
        attacks=tuple(a.strip() for a in params.shadow_attacks.split(",") if a.strip()),
        seed=params.shadow_seed,
        split=params.shadow_split,
        train_size=params.shadow_train_size,
        architectures=None if not params.shadow_architectures
        else tuple(a.strip() for a in params.shadow_architectures.split(",") if a.strip()),
        epochs=params.shadow_epochs,
        eval_size=500,
        min_attack_success=0.5,
        name="mntd-shadow",
    )


def cache_key(dataset: str, params: MntdParams, shadow_split: str) -> str:
    spec = shadow_spec(dataset, params)
    payload = {
        "version": MNTD_CACHE_VERSION,
        "dataset": dataset,
        "shadow_split": shadow_split,
        "shadow_zoo": spec.to_dict(),
        "meta": {k: v for k, v in params.model_dump(mode="json").items() if k not in ("threshold",)},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def meta_cache_dir(cache_root: Path, dataset: str, key: str) -> Path:
    """The folder of one trained meta-classifier below ``cache_root`` (the context's ``cache_dir("mntd")``)."""
    return cache_root / dataset / key


def train_meta_classifier(
    dataset: str, params: MntdParams, *, device: torch.device, cache_root: Path, progress: bool = False
) -> TrainedMeta:
    """Build (or reuse) the shadow zoo and train meta-classifier and queries; cached by `cache_key` below
    ``cache_root``."""
    from securitynet.data import get_dataset
    from securitynet.zoo.trojan.trojan_zoo import build_trojan_zoo

    info = get_dataset(dataset)
    split = params.shadow_split or info.nonmember_split
    key = cache_key(dataset, params, split)
    folder = meta_cache_dir(cache_root, dataset, key)
    cached = _load_cached(folder, key, info.num_classes, params)
    if cached is not None:
        return cached

    started = time.perf_counter()
    spec = shadow_spec(dataset, params.model_copy(update={"shadow_split": split}))
    cards = build_trojan_zoo(spec, store=None, device=device, progress=progress)
    zoo_seconds = time.perf_counter() - started
    labels = np.array([card.backdoor is not None and card.backdoor.attack != "none" for card in cards])
    train_index, valid_index = _holdout(labels, params.shadow_seed)

    shadows = [_Shadow(card, device) for card in cards]
    num_classes = info.num_classes
    image_shape = tuple(int(v) for v in info.image_shape)
    grey = len(image_shape) == 2
    generator = torch.Generator().manual_seed(params.shadow_seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.shadow_seed)
        meta = MetaClassifier(params.n_queries, num_classes, params.meta_hidden).to(device)
        channels = 1 if grey else image_shape[-1]
        query_raw = torch.rand(params.n_queries, channels, *image_shape[:2], generator=generator).to(device)
        query_raw.requires_grad_(params.query_tuning)
        tuned = [query_raw] if params.query_tuning else []
        optimizer = torch.optim.Adam([*meta.parameters(), *tuned], lr=params.meta_lr)
        meta_started = time.perf_counter()
        for _epoch in range(params.meta_epochs):
            for position in torch.randperm(len(train_index), generator=generator).tolist():
                index = int(train_index[position])
                logit = meta(shadows[index](_on_grid(query_raw)))
                loss = F.binary_cross_entropy_with_logits(logit, torch.tensor(float(labels[index]), device=device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    query_raw.clamp_(0.0, 1.0)
        meta_seconds = time.perf_counter() - meta_started

    meta.eval()
    queries = _to_uint8(query_raw, grey)
    # Validation asks the held-out shadows exactly as a target is asked: uint8 queries through predict_proba.
    scores = np.array([meta_score(meta, shadows[i].target.predict_proba(queries), device) for i in valid_index])
    valid_labels = labels[valid_index]
    record = {
        "cache_key": key,
        "dataset": dataset,
        "shadow_split": split,
        "shadow_zoo": spec.to_dict(),
        "shadow_models": [card.id for card in cards],
        "shadow_weights": [card.weight_hash for card in cards],
        "train_models": int(len(train_index)),
        "validation_models": int(len(valid_index)),
        "validation_auroc": float(roc_auc_score(valid_labels, scores)),
        "validation_accuracy": float(np.mean((scores > params.threshold) == valid_labels)),
        "zoo_seconds": zoo_seconds,
        "meta_seconds": meta_seconds,
    }
    trained = TrainedMeta(meta.cpu(), queries, record)
    _save_cached(folder, trained)
    return trained


def meta_score(meta: MetaClassifier, posteriors: np.ndarray, device: torch.device | str = "cpu") -> float:
    with torch.no_grad():
        logit = meta.to(device)(torch.as_tensor(posteriors, dtype=torch.float32, device=device))
    return float(torch.sigmoid(logit).item())


@register_attack
class Mntd(BackdoorDetector):
    name = "backdoor.mntd"
    version = "1"
    access = "posterior"
    description = "MNTD (Xu et al. 2021): meta-classifier with tuned queries, trained on a jumbo shadow zoo"
    Params = MntdParams
    image_reason = "MNTD's shadow zoo holds 2-D image classifiers"

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: MntdParams = self.params  # type: ignore[assignment]
        card = target.card
        info = ctx.dataset_info()
        if card.num_classes is not None and card.num_classes != info.num_classes:
            raise MntdError(
                f"{card.id} has {card.num_classes} classes; the {info.name} shadow zoo has {info.num_classes}"
            )
        trained = train_meta_classifier(
            card.dataset, params, device=ctx.device, cache_root=ctx.cache_dir(CACHE_PURPOSE), progress=ctx.progress
        )
        posteriors = target.predict_proba(trained.queries)
        # The trained meta-classifier is kept on the CPU between jobs (one per dataset and parameters) and
        # scores a single vector here: moving it to the GPU would cost more than the product it computes.
        score = meta_score(trained.meta, posteriors, "cpu")
        truth = ground_truth(card)
        metrics: dict[str, float | None] = {
            "score": score,
            "flagged": float(score > params.threshold),
            "suspected_target": None,
            "target_hit": None,
            "meta_validation_auroc": trained.record["validation_auroc"],
        }
        missing = {"suspected_target": "MNTD names no target label", "target_hit": "MNTD names no target label"}
        shadow_ids = set(trained.record["shadow_models"])
        if card.id in shadow_ids:
            metrics["score"] = metrics["flagged"] = None
            missing["score"] = missing["flagged"] = "the model is one of MNTD's own shadow models"
        ctx.record("mntd", {k: v for k, v in trained.record.items() if k not in ("shadow_models", "shadow_weights")})
        artifacts = {
            "queries": ctx.save_artifact("queries", trained.queries),
            "query_posteriors": ctx.save_artifact("query_posteriors", np.asarray(posteriors, dtype=np.float32)),
        }
        data = {"meta_cache_key": trained.record["cache_key"],
                "ground_truth": {"backdoored": truth.backdoored, "target_label": truth.target_label}}
        return AttackResult(metrics=metrics, artifacts=artifacts, missing_reasons=missing, data=data)


# --- internals ------------------------------------------------------------------------------------


def _holdout(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A quarter of each class of shadow models (at least one) held out for validation."""
    rng = np.random.default_rng([seed, 3])
    train, valid = [], []
    for value in (False, True):
        members = rng.permutation(np.flatnonzero(labels == value))
        if len(members) < 2:
            raise MntdError("MNTD needs at least two clean and two backdoored shadow models")
        cut = max(1, len(members) // 4)
        valid.extend(members[:cut])
        train.extend(members[cut:])
    return np.sort(np.array(train)), np.sort(np.array(valid))


class _Shadow:
    """A shadow model: differentiable queries (unit pixels) -> posteriors, and its black box for validation."""

    def __init__(self, card: ModelCard, device: torch.device) -> None:
        from securitynet.zoo.loader import load_target

        self.target = load_target(card, device=device)
        self.target.module.eval()
        for parameter in self.target.module.parameters():  # our own model: only the queries get gradients
            parameter.requires_grad_(False)
        self.model = PixelModel(self.target.module, card).to(device)

    def __call__(self, queries: torch.Tensor) -> torch.Tensor:
        return self.model(queries).exp()


def _on_grid(raw: torch.Tensor) -> torch.Tensor:
    """Straight-through rounding to the uint8 grid: forward sees real images, backward the identity."""
    grid = torch.round(raw * 255.0) / 255.0
    return raw + (grid - raw).detach()


def _to_uint8(raw: torch.Tensor, grey: bool) -> np.ndarray:
    array = torch.round(raw.detach().clamp(0, 1) * 255.0).to(torch.uint8).cpu().numpy()
    return array[:, 0] if grey else array.transpose(0, 2, 3, 1)


def _save_cached(folder: Path, trained: TrainedMeta) -> None:
    from safetensors.torch import save_file

    tensors = {f"meta.{k}": v.detach().cpu().contiguous() for k, v in trained.meta.state_dict().items()}
    tensors["queries"] = torch.from_numpy(np.ascontiguousarray(trained.queries))
    with atomic_path(folder / "meta.safetensors") as temporary:
        save_file(tensors, str(temporary))
    # The record last: a folder with a record always holds the weights it describes.
    atomic_write_text(folder / "record.json", json.dumps(trained.record, indent=1, sort_keys=True))


def _load_cached(folder: Path, key: str, num_classes: int, params: MntdParams) -> TrainedMeta | None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not (folder / "record.json").is_file() or not (folder / "meta.safetensors").is_file():
        return None
    try:
        record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "meta.safetensors"))
        meta = MetaClassifier(params.n_queries, num_classes, params.meta_hidden)
        meta.load_state_dict({k.removeprefix("meta."): v for k, v in tensors.items() if k.startswith("meta.")})
    except (OSError, ValueError, RuntimeError, SafetensorError):
        return None  # a damaged cache entry is rebuilt, not trusted
    if record.get("cache_key") != key:
        return None
    meta.eval()
    return TrainedMeta(meta, tensors["queries"].numpy().astype(np.uint8), record)
