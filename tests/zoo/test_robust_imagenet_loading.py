"""Robust ImageNet checkpoints: a robustness-library style file loads through the card, keeping only the
classifier (not the attacker's copy, not the normaliser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import robust_imagenet as source
from securitynet.errors import ChecksumError
from securitynet.zoo.loader import load_target
from securitynet.zoo.weights import fetch_weights, sha256_file

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def _robustness_checkpoint(classifier: torch.nn.Module, prefix: str, path: Path) -> dict[str, torch.Tensor]:
    """What robustness' train loop saves: DataParallel(AttackerModel(...)).state_dict() under 'model'."""
    inner = prefix.removeprefix("module.")  # "model." or "model.model." (DummyModel)
    weights = {name: tensor.clone() for name, tensor in classifier.state_dict().items()}
    state: dict[str, torch.Tensor] = {}
    state["module.normalizer.new_mean"], state["module.normalizer.new_std"] = MEAN.clone(), STD.clone()
    for name, tensor in weights.items():
        state[f"{prefix}{name}"] = tensor
        # The attacker holds the same classifier; made different here so a wrong pick shows.
        state[f"module.attacker.{inner}{name}"] = tensor + 1 if tensor.is_floating_point() else tensor
    state["module.attacker.normalize.new_mean"], state["module.attacker.normalize.new_std"] = MEAN.clone(), STD.clone()
    checkpoint = {"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
                  "schedule": None, "epoch": 90}
    torch.save(checkpoint, path)
    return weights


def _card_for(file: Path, card: ModelCard) -> ModelCard:
    """The real card, but expecting the generated file's hash instead of the released file's."""
    return card.model_copy(update={"weights": card.weights.model_copy(update={"sha256": sha256_file(file)})})


@pytest.mark.slow  # a 224 px ImageNet model built, saved, loaded and run on the CPU
@pytest.mark.parametrize("card_id, constructor", [
    ("robust_imagenet/resnet18_l2_eps3", "resnet18"),  # built by robustness: module.model.
    ("robust_imagenet/shufflenet_l2_eps3", "shufflenet_v2_x1_0"),  # torchvision in DummyModel: module.model.model.
])
def test_robustness_checkpoint_loads_the_classifier_only(
    card_id: str, constructor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = source.cards_by_id()[card_id]
    torch.manual_seed(0)
    classifier = torchvision.models.get_model(constructor, weights=None, num_classes=1000)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    weights = _robustness_checkpoint(classifier, card.weights.key_prefix, mirror / card.weights.filename)
    monkeypatch.setenv("SECURITYNET_MIRROR", str(mirror))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")

    target = load_target(_card_for(mirror / card.weights.filename, card), device="cpu")
    loaded = target.module.state_dict()
    assert set(loaded) == set(weights)
    assert all(torch.equal(loaded[name], tensor) for name, tensor in weights.items())

    # The normaliser is not in the module: preprocessing normalises, so outputs equal the original classifier's
    # on normalised inputs, for a photo of another size going through resize 256 / centre crop 224.
    image = np.random.default_rng(0).integers(0, 256, size=(1, 300, 260, 3), dtype=np.uint8)
    x = target.preprocess(image)
    assert x.shape == (1, 3, 224, 224)
    with torch.no_grad():
        expected = torch.softmax(classifier.eval()(x), dim=1).numpy()
    assert np.allclose(target.predict_proba(image), expected, atol=1e-5)


def test_the_released_hash_refuses_a_different_file(tmp_path: Path) -> None:
    card = source.cards_by_id()["robust_imagenet/shufflenet_l2_eps3"]
    assert card.weights.sha256  # recorded from the Hugging Face LFS pointer
    torch.manual_seed(1)
    classifier = torchvision.models.get_model("shufflenet_v2_x1_0", weights=None, num_classes=1000)
    _robustness_checkpoint(classifier, card.weights.key_prefix, tmp_path / card.weights.filename)
    with pytest.raises(ChecksumError, match=card.weights.sha256):
        fetch_weights(card, offline=True, progress=False, mirrors=[tmp_path])
