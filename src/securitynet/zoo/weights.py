"""Weights: find in a mirror or the cache, download, verify the hash, and load without running code.

(Foundation version: mirror/cache lookup, hash check, safe loading. Download with retries and resume,
and archive extraction, are added by the weights work item.)
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from securitynet import config
from securitynet.catalog.card import ModelCard, WeightsSpec
from securitynet.errors import ChecksumError, UnsafeWeightsError, WeightsError


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def weight_filename(spec: WeightsSpec) -> str:
    if spec.filename:
        return spec.filename
    if spec.urls:
        return spec.urls[0].rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    raise WeightsError("weights spec names neither a file name nor a URL")


def fetch_weights(card: ModelCard) -> Path:
    """A verified local file holding the card's weights (mirror first, then cache)."""
    spec = card.weights
    name = weight_filename(spec)
    for folder in [*config.mirror_dirs(), config.cache_dir() / "weights"]:
        candidate = folder / name
        if candidate.is_file():
            verify_file(candidate, spec, what=f"weights of {card.id}")
            return candidate
    raise WeightsError(f"weights of {card.id} ({name}) are neither mirrored nor cached and cannot be downloaded")


def verify_file(path: Path, spec: WeightsSpec, *, what: str) -> None:
    if spec.sha256:
        actual = sha256_file(path)
        if actual != spec.sha256.lower():
            raise ChecksumError(f"{what}: {path} has sha256 {actual}, expected {spec.sha256}")


def load_state_dict_file(path: str | Path, spec: WeightsSpec | None = None) -> dict[str, torch.Tensor]:
    """Load a state dict safely: safetensors, or torch.load with weights_only=True (no code runs)."""
    path = Path(path)
    spec = spec or WeightsSpec()
    if spec.format == "safetensors" or path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UnsafeWeightsError(
                f"{path} was refused: loading it would run code or objects that are not plain tensors "
                f"({str(exc).splitlines()[0]})"
            ) from None
        except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
            raise WeightsError(f"{path} is not a readable PyTorch weight file: {exc}") from None
    if spec.inner_key:
        if not isinstance(state, Mapping) or spec.inner_key not in state:
            raise WeightsError(f"{path} has no key {spec.inner_key!r} holding the state dict")
        state = state[spec.inner_key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    prefix = spec.key_prefix
    if prefix:
        state = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
    return dict(state)
