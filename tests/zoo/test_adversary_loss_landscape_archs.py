"""AdversaryLossLandscape architectures: exactly the recorded checkpoint layout; a release-style file loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from securitynet.catalog.sources import adversary_loss_landscape as source
from securitynet.errors import WeightsError
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.loader import load_target

LAYOUTS = source.layout()["layouts"]
ARCHITECTURES = {folder: model["architecture"] for folder, model in source.release()["models"].items()}


@pytest.mark.parametrize("folder", sorted(LAYOUTS))
def test_built_architecture_has_exactly_the_recorded_layout(folder: str) -> None:
    recorded = LAYOUTS[folder]
    module = build_architecture(ARCHITECTURES[folder], 10, **recorded["arch_kwargs"])
    built = [(name, list(tensor.shape)) for name, tensor in module.state_dict().items()]
    assert built == [(name, shape) for name, shape in recorded["state_dict"].items()]


def test_width_changes_the_layout() -> None:
    narrow = build_architecture("adversary_loss_landscape_resnet", 10, width=4).state_dict()
    assert tuple(narrow["conv1.weight"].shape) == (16, 3, 3, 3)
    assert tuple(narrow["classifier.weight"].shape) == (10, 128)


def _release_style_file(card, folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A plain state dict with the recorded names and shapes, saved the way util/train.py saves it."""
    generator = torch.Generator().manual_seed(seed)
    recorded = LAYOUTS[card.extra[source.SOURCE]["path"].split("/")[1]]["state_dict"]
    state = {}
    for name, shape in recorded.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[name] = torch.randn(shape, generator=generator) * 0.05
    torch.save(state, folder / card.weights.filename)
    return state


def test_release_style_checkpoint_loads_from_a_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = source.cards_by_id()["adversary_loss_landscape/vgg_periodic_const_eps8_wd1e-3_150-run3"]
    state = _release_style_file(card, tmp_path)
    monkeypatch.setenv("SECURITYNET_MIRROR", str(tmp_path))
    target = load_target(card, device="cpu")
    loaded = target.module.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in state.items())
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    probs = target.predict_proba(images)
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # No hash on the card, so the weight identity is the sha256 of the file actually loaded.
    assert target.weight_hash.startswith("sha256:")


def test_a_file_of_another_run_name_is_not_picked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cards = source.cards_by_id()
    run1 = cards["adversary_loss_landscape/lenet_const_eps0.4_max0.8_100-run1"]
    run2 = cards["adversary_loss_landscape/lenet_const_eps0.4_max0.8_100-run2"]
    _release_style_file(run1, tmp_path)
    monkeypatch.setenv("SECURITYNET_MIRROR", str(tmp_path))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    assert load_target(run1, device="cpu").module is not None
    with pytest.raises(WeightsError, match="could not be fetched"):
        load_target(run2, device="cpu")
