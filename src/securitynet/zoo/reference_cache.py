"""Reference (shadow) models trained once and cached on disk: the provider attacks reach as ``ctx.reference_models``.

A trained model is stored under ``<root>/<dataset>/<architecture>/<key>`` (root: the context's
``cache_dir(CACHE_FOLDER)``) as safetensors plus a JSON note, where the key hashes the spec (architecture,
arguments, preprocessing, recipe), the model's own seed, the dataset and the exact images it was trained on
(split, source and indices). Two targets of the same dataset and architecture asking for the same images and
seed therefore reuse the same files; anything that would change the model changes the key. A file whose
sha256 does not match its note is retrained, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from securitynet.catalog.card import ModelCard, WeightsSpec
from securitynet.files import atomic_write_bytes
from securitynet.zoo.devices import resolve_device
from securitynet.zoo.reference_spec import ReferenceSpec
from securitynet.zoo.target import TargetModel
from securitynet.zoo.train import init_module, train_classifier

# The cache folder below the cache root (`securitynet.cache_contents` lists it as "reference-models").
CACHE_FOLDER = "mia-references"


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


class ReferenceModels:
    """Trains a reference model the first time its key is asked for, and loads it from ``root`` after that."""

    def __init__(self, root: Path, device: torch.device | str | None = None, *, progress: bool = False) -> None:
        self.root = Path(root)
        self.device = resolve_device(device)  # the job's device (ctx.device); alone: the GPU when there is one
        self.progress = progress

    def model(
        self,
        spec: ReferenceSpec,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        trained_on: dict[str, np.ndarray],
        sources: dict[str, str],
        seed: int,
        index: int,
    ) -> ReferenceModel:
        """Reference model ``index``: ``spec`` trained with ``seed`` on ``images`` (which are ``trained_on``:
        split -> source indices, the splits' sources in ``sources``), from the cache when it holds it."""
        key = model_key(spec, trained_on, sources, seed)
        folder = self.root / _safe(spec.dataset) / _safe(spec.architecture)
        path, note_path = folder / f"{key}.safetensors", folder / f"{key}.json"
        module = init_module(spec.architecture, spec.num_classes, seed=seed, arch_kwargs=spec.arch_kwargs)
        note = _read_note(note_path, path)
        trained_now = note is None
        if note is not None:
            from safetensors.torch import load_file

            module.load_state_dict(load_file(str(path)))
        else:
            recipe = spec.recipe.replace(seed=seed)
            report = train_classifier(
                module, np.ascontiguousarray(images), labels, input_spec=spec.input_spec, recipe=recipe,
                device=self.device, progress=self.progress,
                description=f"reference model {index} (trained by the attack)",
            )
            note = {
                "key": key,
                "sha256": _save(module, path),
                "spec": spec.to_dict(),
                "model_seed": seed,
                "recipe_hash": recipe.hash(),
                "trained_on": {s: v.tolist() for s, v in trained_on.items()},
                "training_report": {k: v for k, v in report.to_dict().items() if k != "history"},
            }
            atomic_write_bytes(note_path, json.dumps(note, indent=1, sort_keys=True).encode())
        card = _reference_card(spec, key, path, note["sha256"], seed, train_size=len(images))
        target = TargetModel(card=card, module=module, weight_hash=f"sha256:{note['sha256']}", device=self.device)
        return ReferenceModel(
            index=index, key=key, target=target, trained_on=trained_on, path=path, trained_now=trained_now,
            report=note.get("training_report", {}),
        )


def model_key(spec: ReferenceSpec, trained_on: dict[str, np.ndarray], sources: dict[str, str], seed: int) -> str:
    """The cache key: the spec's identity, the model's seed and its training images (split, source, indices)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(spec.identity(), sort_keys=True, default=str).encode())
    digest.update(f"|seed={seed}|".encode())
    for split in sorted(trained_on):
        digest.update(f"{split}\x1f{sources.get(split, '')}\x1f".encode())
        digest.update(np.ascontiguousarray(trained_on[split], dtype="<i8").tobytes())
    return digest.hexdigest()[:32]


def _reference_card(spec: ReferenceSpec, key: str, path: Path, sha256: str, seed: int, *, train_size: int) -> ModelCard:
    return ModelCard(
        id=f"reference/{_safe(spec.dataset)}/{key}",
        name=f"reference {key[:12]}",
        source="self-trained",
        architecture=spec.architecture,
        arch_kwargs=spec.arch_kwargs,
        dataset=spec.dataset,
        num_classes=spec.num_classes,
        train_size=int(train_size),
        training_split=None,
        input=spec.input_spec,
        output_kind="logits",
        weights=WeightsSpec(urls=[path.resolve().as_uri()], filename=path.name, sha256=sha256, format="safetensors"),
        purpose="self-trained",
        tags=["mia-reference"],
        notes=f"membership-inference reference model ({spec.origin})",
        extra={"reference_key": key, "model_seed": seed},
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name)


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
    atomic_write_bytes(path, payload)
    return hashlib.sha256(payload).hexdigest()
