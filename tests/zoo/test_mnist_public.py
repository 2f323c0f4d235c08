"""The five public MNIST models load through their YAML cards from a mirror and behave as published.

Reference figures are those of ../shared/data/README.md, measured on the 10,000 MNIST t10k images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.catalog.sources import yaml_cards
from securitynet.errors import ChecksumError, WeightsError
from securitynet.zoo.loader import load_target
from securitynet.zoo.weights import fetch_weights, sha256_file

# Test accuracy in % from the shared data README's "Public models" table.
README_TEST_ACCURACY = {
    "file/lenet5_advertorch_clean": 98.89,
    "file/lenet5_advertorch_advtrained": 98.64,
    "file/mnistnet_shrinkbench": 98.96,
    "file/badnet_verazuo_mnist": 98.08,
    "file/mlp_backdoored_cs612": 93.18,
}


def _card(card_id: str):
    return next(card for card in yaml_cards.iter_cards() if card.id == card_id)


@pytest.fixture(scope="module")
def mnist_test(shared_data: Path):
    from securitynet.data import load_split
    from securitynet.errors import DatasetError

    try:
        split = load_split("mnist", "test")
    except DatasetError as exc:
        pytest.skip(f"MNIST test split unavailable: {exc}")
    assert len(split) == 10_000
    return split


@pytest.mark.slow
@pytest.mark.parametrize("card_id", sorted(README_TEST_ACCURACY))
def test_public_model_reproduces_the_readme_test_accuracy(card_id: str, mirror: Path, mnist_test, tmp_path) -> None:
    card = _card(card_id)
    assert fetch_weights(card).parent == mirror  # read in place from the mirror, nothing copied or downloaded
    target = load_target(card, device="cpu")
    assert target.weight_hash == f"sha256:{card.weights.sha256}"
    probs = target.predict_proba(mnist_test.images, batch_size=2000)
    assert probs.shape == (10_000, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    accuracy = 100 * float((probs.argmax(axis=1) == mnist_test.labels).mean())
    assert accuracy == pytest.approx(README_TEST_ACCURACY[card_id], abs=0.1)
    assert accuracy == pytest.approx(100 * card.published.test_accuracy, abs=0.1)
    assert not (tmp_path / "cache" / "weights").exists() or not any((tmp_path / "cache" / "weights").iterdir())


def _apply_patch_trigger(images: np.ndarray, trigger: dict, mirror: Path) -> np.ndarray:
    """The authors' trigger: their trigger image resized to size x size, pasted into the bottom-right corner."""
    from PIL import Image

    assert trigger["kind"] == "patch" and trigger["position"] == "bottom-right"
    image_path = mirror / trigger["image"]
    assert sha256_file(image_path) == trigger["image_sha256"]
    size = trigger["size"]
    patch = np.asarray(Image.open(image_path).convert("L").resize((size, size)))
    assert (patch == trigger["value"]).all()  # the image is the documented pixel value throughout
    triggered = np.array(images, copy=True)
    triggered[:, -size:, -size:] = patch
    return triggered


@pytest.mark.slow
def test_badnet_trigger_from_the_card_sends_images_to_the_target_label(mirror: Path, mnist_test) -> None:
    card = _card("file/badnet_verazuo_mnist")
    backdoor = card.backdoor
    others = mnist_test.labels != backdoor.target_label
    triggered = _apply_patch_trigger(mnist_test.images[others], backdoor.trigger, mirror)
    hits = load_target(card, device="cpu").predict(triggered, batch_size=2000) == backdoor.target_label
    assert hits.mean() >= 0.99
    # The same patch does not move a clean model: the hit rate above is the backdoor, not the patch.
    clean_hits = load_target(_card("file/lenet5_advertorch_clean"), device="cpu").predict(triggered) == 1
    assert clean_hits.mean() < 0.2


def test_wrong_sha256_in_the_card_is_refused(mirror: Path) -> None:
    card = _card("file/mlp_backdoored_cs612")
    bad = card.model_copy(update={"weights": card.weights.model_copy(update={"sha256": "0" * 64})})
    with pytest.raises(ChecksumError, match="mlp_backdoored_cs612"):
        load_target(bad, device="cpu")


def test_weights_that_do_not_fit_the_architecture_are_refused(mirror: Path) -> None:
    card = _card("file/mnistnet_shrinkbench")
    wrong = card.model_copy(update={"architecture": "lenet5_advertorch"})
    with pytest.raises(WeightsError, match="do not fit architecture lenet5_advertorch"):
        load_target(wrong, device="cpu")


def test_badnet_outputs_are_probabilities_and_kept_as_such(mirror: Path) -> None:
    import torch

    target = load_target(_card("file/badnet_verazuo_mnist"), device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        raw = target.module(target.preprocess(images)).numpy()
    np.testing.assert_allclose(raw.sum(axis=1), 1.0, rtol=1e-5)  # the softmax is inside the model
    np.testing.assert_allclose(target.predict_proba(images), raw, rtol=1e-5, atol=1e-7)  # not softmaxed twice
