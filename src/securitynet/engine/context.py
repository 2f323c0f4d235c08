"""JobContext: the engine's implementation of `AttackContext`, one per job, and an attack's only door.

Everything an attack reads through the context is recorded (datasets, splits, member and
non-member indices, artifacts), so the job's row in the store says exactly what produced its numbers.
What an attack keeps between jobs (trained reference models, meta-classifiers) lives in a cache folder
per purpose (`JobContext.cache_dir`); reference models come from the context's provider
(`JobContext.reference_models`), models it trains itself from the shared trainer (`JobContext.trainer`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from securitynet import config
from securitynet.attacks.base import AccessError
from securitynet.catalog.card import ModelCard
from securitynet.engine.access import count_queries, unwrap
from securitynet.engine.cache import PosteriorCache, split_key
from securitynet.engine.seeding import derive_seed
from securitynet.errors import DatasetError
from securitynet.files import atomic_write
from securitynet.json_values import json_default

if TYPE_CHECKING:
    from securitynet.zoo.reference_cache import ReferenceModels

_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def artifacts_dir_for(root: Path, model_id: str, attack: str, job_key: str) -> Path:
    """One folder per job key, so a rerun of the same key replaces, never mixes, its files."""
    safe_model = re.sub(r"[^A-Za-z0-9_.\-]+", "__", model_id)
    return root / safe_model / attack / job_key


class JobContext:
    """What one job's attack may use. The worker builds one per job (`engine.worker.run_job`); outside a run,
    build one with `JobContext.standalone`."""

    def __init__(
        self,
        *,
        card: ModelCard,
        seed: int,
        job_key: str,
        access: str,
        device: torch.device,
        cache: PosteriorCache,
        artifacts_dir: Path,
        cache_root: Path | None = None,
        progress: bool = False,
    ) -> None:
        self.card = card
        self.seed = seed
        self.job_key = job_key
        self.access = access
        self.device = device
        self.cache = cache
        self._artifacts_dir = artifacts_dir
        self._cache_root = cache_root  # None: the cache folder of the machine the job runs on (config)
        # Whether long sub-steps (training a model) may draw their own transient progress bar: not under a
        # run, whose display already shows the jobs.
        self.progress = progress
        stream_seed = derive_seed(seed, job_key, "attack-stream")
        self.rng = np.random.default_rng(stream_seed)
        self.torch_generator = torch.Generator().manual_seed(stream_seed)
        self.data_used: list[dict[str, Any]] = []
        self.notes: dict[str, Any] = {}
        self.artifacts: dict[str, dict[str, Any]] = {}

    # --- folders and helpers ------------------------------------------------------------------

    @property
    def artifacts_dir(self) -> Path:
        self._artifacts_dir.mkdir(parents=True, exist_ok=True)
        return self._artifacts_dir

    @property
    def trainer(self) -> Any:
        """The shared trainer module (`securitynet.zoo.train`); pass ``device=ctx.device`` to it."""
        return importlib.import_module("securitynet.zoo.train")

    def cache_dir(self, purpose: str) -> Path:
        """The folder (created) that keeps what attacks reuse across jobs and runs for one ``purpose``, e.g.
        ``"mntd"``; `securitynet.cache_contents` lists the purposes that ``securitynet cache`` shows."""
        if not _ARTIFACT_NAME.match(purpose):
            raise ValueError(f"cache purpose {purpose!r} must be a plain folder name (letters, digits, _ . -)")
        folder = (self._cache_root if self._cache_root is not None else config.cache_dir()) / purpose
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @cached_property
    def reference_models(self) -> ReferenceModels:
        """Reference (shadow) models of membership attacks: trained on the job's device the first time a
        spec, seed and training set is asked for, then read from their cache folder (`zoo.reference_cache`)."""
        from securitynet.zoo.reference_cache import CACHE_FOLDER, ReferenceModels

        return ReferenceModels(self.cache_dir(CACHE_FOLDER), self.device, progress=self.progress)

    def record(self, key: str, value: Any) -> None:
        """Add a note to the job's data description (stored with the job, e.g. query indices)."""
        self.notes[key] = value

    # --- data ---------------------------------------------------------------------------------

    def dataset_info(self, dataset: str | None = None) -> Any:
        from securitynet.data import get_dataset

        return get_dataset(dataset or self.card.dataset)

    def load_split(self, split: str, dataset: str | None = None) -> Any:
        from securitynet.data import load_split

        data = load_split(dataset or self.card.dataset, split)
        key = split_key(data)
        self.data_used.append(
            {"kind": "split", "dataset": key.dataset, "split": key.split, "n": key.n, "fingerprint": key.fingerprint}
        )
        return data

    def membership(
        self,
        n: int,
        *,
        member_split: str | None = None,
        nonmember_split: str | None = None,
        dataset: str | None = None,
        exclude: Any = None,
    ) -> Any:
        """``n`` members and ``n`` non-members of the target's dataset, seeded by the job's seed only.

        Members come from ``member_split`` (default: the dataset's member split present here),
        non-members from ``nonmember_split`` (default: its held-out split); ``exclude`` ({split: indices}
        or ArraySplits) keeps images out of both, e.g. an attacker's own data. A model trained on a subset
        of its training split (``card.training_indices``) has members only there: the rest of that split is
        excluded too, so no attack can call an image the model never saw a member. When a split holds fewer
        than ``n`` images both sides shrink to the same size; the sample says so. Both index lists
        are recorded.
        """
        from securitynet.data import sample_membership

        dataset = dataset or self.card.dataset
        if dataset == self.card.dataset and self.card.training_indices is not None:
            member_split, exclude = self._within_training_subset(member_split, nonmember_split, exclude)
        sample = sample_membership(
            dataset, n, seed=self.seed, member_split=member_split, nonmember_split=nonmember_split, exclude=exclude
        )
        training_indices = self.card.training_indices
        if training_indices is not None and dataset == self.card.dataset \
                and not np.isin(sample.members.indices, training_indices).all():
            raise DatasetError(f"members of {self.card.id} were drawn outside its training indices (a bug)")
        self.data_used.append(
            {
                "kind": "membership",
                "dataset": dataset,
                "seed": self.seed,
                "n_requested": int(n),
                "n": len(sample.members),
                "member_split": sample.members.split,
                "nonmember_split": sample.nonmembers.split,
                "member_indices": np.asarray(sample.members.indices).tolist(),
                "nonmember_indices": np.asarray(sample.nonmembers.indices).tolist(),
                "description": dict(getattr(sample, "description", {}) or {}),
            }
        )
        return sample

    def _within_training_subset(
        self, member_split: str | None, nonmember_split: str | None, exclude: Any
    ) -> tuple[str, dict[str, np.ndarray]]:
        """The member split and exclusions that keep members inside ``card.training_indices``."""
        from securitynet.data import load_split
        from securitynet.data.membership import normalise_exclude

        card, info = self.card, self.dataset_info()
        split = member_split or card.training_split
        if split != card.training_split:
            raise DatasetError(
                f"{card.id} was trained on a subset of {card.training_split!r}; members cannot come from {split!r}"
            )
        if (nonmember_split or info.nonmember_split) == split:
            raise DatasetError(
                f"{card.id} was trained on a subset of {split!r}, which is also the non-member split: "
                "pass another nonmember_split"
            )
        excluded = normalise_exclude(exclude, card.dataset)
        full = load_split(card.dataset, split)
        outside = np.setdiff1d(np.asarray(full.indices), np.asarray(card.training_indices, dtype=np.int64))
        excluded[split] = np.union1d(excluded.get(split, np.zeros(0, np.int64)), outside)
        return split, excluded

    # --- the target through the cache -----------------------------------------------------------

    def posteriors(self, target: Any, split: Any) -> np.ndarray:
        """Posteriors (N, C) of the target on a split or image array: computed once, then cached (read-only)."""
        if self.access == "label":
            raise AccessError(f"a label-access attack cannot read posteriors of {self.card.id}")
        return self._cached(target, split)

    def predictions(self, target: Any, split: Any) -> np.ndarray:
        """Top-1 labels of the target on a split (from the cached posteriors); allowed at every access level."""
        return self._cached(target, split).argmax(axis=1)

    def _cached(self, target: Any, split: Any) -> np.ndarray:
        probs = self.cache.get(unwrap(target), split)
        count_queries(target, len(probs))
        return probs

    # --- artifacts ----------------------------------------------------------------------------

    def save_artifact(self, name: str, value: Any) -> dict[str, Any]:
        """Write an artifact into the job's folder and return its entry for ``AttackResult.artifacts``.

        An array becomes ``name.npy``, a mapping of arrays ``name.npz``, anything else JSON. Files are
        written atomically; the returned entry holds the path, the format and the sha256.
        """
        if not _ARTIFACT_NAME.match(name):
            raise ValueError(f"artifact name {name!r} must be a plain file name (letters, digits, _ . -)")
        folder = self.artifacts_dir
        if isinstance(value, np.ndarray):
            path, kind = folder / f"{name}.npy", "npy"
            atomic_write(path, lambda fh: np.save(fh, value, allow_pickle=False))
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            path, kind = folder / f"{name}.npz", "npz"
            atomic_write(path, lambda fh: np.savez_compressed(fh, **value))
        else:
            path, kind = folder / f"{name}.json", "json"
            text = json.dumps(value, default=json_default, indent=1)
            atomic_write(path, lambda fh: fh.write(text.encode()))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        entry = {"path": str(path), "format": kind, "sha256": digest}
        self.artifacts[name] = entry
        return entry

    def discard_artifacts(self) -> None:
        """Remove the job's artifact folder (before a rerun of the key, and after a failure)."""
        shutil.rmtree(self._artifacts_dir, ignore_errors=True)

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def standalone(
        cls,
        card: ModelCard,
        *,
        seed: int = 0,
        access: str = "white-box",
        device: str | torch.device | None = None,
        cache: PosteriorCache | None = None,
        artifacts_root: Path | None = None,
        job_key: str = "standalone",
        cache_root: Path | None = None,
        progress: bool = False,
    ) -> JobContext:
        """A context outside any run (notebooks, unit tests of attacks): same behaviour, nothing stored."""
        from securitynet.zoo.devices import resolve_device

        root = artifacts_root if artifacts_root is not None else config.artifacts_dir() / "standalone"
        return cls(
            card=card, seed=seed, job_key=job_key, access=access,
            device=resolve_device(device),
            cache=cache or PosteriorCache(), artifacts_dir=artifacts_dir_for(root, card.id, "standalone", job_key),
            cache_root=cache_root, progress=progress,
        )
