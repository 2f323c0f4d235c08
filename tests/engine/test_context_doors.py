"""What the context hands an attack beyond the job: cache folders by purpose and the reference-model provider."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from securitynet.catalog.card import ModelCard
from securitynet.engine.context import JobContext

CARD = ModelCard(id="test/door", name="door", source="test", dataset="digits", num_classes=10)


def test_cache_dir_is_one_folder_per_purpose_below_the_cache_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "env-cache"))
    default = JobContext.standalone(CARD, device="cpu", artifacts_root=tmp_path / "artifacts")
    assert default.cache_dir("mntd") == tmp_path / "env-cache" / "mntd" and (tmp_path / "env-cache" / "mntd").is_dir()
    ctx = JobContext.standalone(CARD, device="cpu", artifacts_root=tmp_path / "artifacts", cache_root=tmp_path / "c")
    assert ctx.cache_dir("mntd") == tmp_path / "c" / "mntd" != ctx.cache_dir("mia-references")
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="plain folder name"):
            ctx.cache_dir(bad)


def test_reference_models_live_in_their_cache_folder_on_the_jobs_device(tmp_path: Path) -> None:
    ctx = JobContext.standalone(CARD, device="cpu", artifacts_root=tmp_path / "artifacts",
                                cache_root=tmp_path / "c", progress=True)
    provider = ctx.reference_models
    assert provider is ctx.reference_models  # one provider per job
    assert provider.root == ctx.cache_dir("mia-references")
    assert provider.device == torch.device("cpu") and provider.progress is True
