"""torchvision source: one card per classification weight enum value of the installed torchvision, acc@1 as
published, the evaluation transform as input spec, the URL's sha256 prefix checked as torch.hub checks it."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision
from torchvision.models import get_model_weights, list_models

from securitynet.catalog.card import WeightsSpec
from securitynet.catalog.sources import BUILTIN_SOURCES
from securitynet.catalog.sources.torchvision_weights import card_for, iter_cards, resolve
from securitynet.errors import CardError, ChecksumError
from securitynet.zoo.loader import build_module
from securitynet.zoo.weights import verify_file


def test_one_card_per_classification_weight_enum_value() -> None:
    expected = {f"torchvision/{w}" for name in list_models(module=torchvision.models)
                for w in get_model_weights(name) if w.meta.get("categories")}
    cards = {card.id: card for card in iter_cards()}
    assert set(cards) == expected and len(expected) > 100
    assert "torchvision/VGG16_Weights.IMAGENET1K_FEATURES" not in cards  # no classifier head, no categories
    assert "securitynet.catalog.sources.torchvision_weights" in BUILTIN_SOURCES


def test_published_accuracy_categories_transform_and_url_hash_as_torchvision_publishes_them() -> None:
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    card = card_for("resnet50", str(weights))
    assert card.published.test_accuracy == pytest.approx(weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100)
    assert card.extra["acc@1_percent"] == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert card.extra["categories"] == weights.meta["categories"] and card.num_classes == 1000
    preset = weights.transforms()
    assert card.input.size == (preset.crop_size[0],) * 2 and card.input.resize_shorter == preset.resize_size[0]
    assert card.input.center_crop and card.input.mean == tuple(preset.mean)
    assert card.weights.urls == [weights.url]
    assert weights.url.endswith(f"-{card.weights.source_hash}.pth") and card.weights.source_hash_algo == "sha256-prefix"
    swag = card_for("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1")
    assert swag.input.interpolation == "bicubic" and swag.input.size == (384, 384)


def test_names_resolve_to_builder_and_weights() -> None:
    assert resolve("resnet50") == ("resnet50", str(torchvision.models.ResNet50_Weights.DEFAULT))
    assert resolve("resnet50.IMAGENET1K_V1") == ("resnet50", "ResNet50_Weights.IMAGENET1K_V1")
    assert resolve("ResNet50_Weights.IMAGENET1K_V1") == ("resnet50", "ResNet50_Weights.IMAGENET1K_V1")
    with pytest.raises(CardError, match="no weights 'V9'"):
        resolve("resnet50.V9")
    with pytest.raises(CardError, match="no classification model"):
        resolve("fasterrcnn_resnet50_fpn")


@pytest.mark.parametrize("weights", ["GoogLeNet_Weights.IMAGENET1K_V1", "SqueezeNet1_1_Weights.IMAGENET1K_V1",
                                     "MobileNet_V3_Small_Weights.IMAGENET1K_V1"])
def test_cards_build_the_architecture_the_weights_were_saved_from(weights: str, monkeypatch) -> None:
    """torchvision's own builder, given these weights, accepts (strictly) the state dict of the module the card
    builds: the same layout (GoogLeNet keeps its auxiliary heads). The download is replaced by that state dict."""
    import torchvision.models._api as api

    builder, _ = resolve(weights)
    card = card_for(builder, weights)
    built = build_module(card).eval()
    monkeypatch.setattr(api, "load_state_dict_from_url", lambda *a, **k: built.state_dict())
    torchvision.models.get_model(builder, weights=weights)  # raises if any key or shape differs
    if builder == "googlenet":
        assert built.transform_input
    with torch.no_grad():
        out = built(torch.zeros(1, 3, *card.input.size))
    assert out.shape == (1, card.num_classes)


def test_the_url_hash_prefix_is_checked_like_torch_hub(tmp_path) -> None:
    path = tmp_path / "model.pth"
    path.write_bytes(b"weights")
    prefix = hashlib.sha256(b"weights").hexdigest()[:8]
    spec = WeightsSpec(urls=[f"https://example.org/model-{prefix}.pth"], source_hash=prefix,
                       source_hash_algo="sha256-prefix")
    assert verify_file(path, spec, what="test") == hashlib.sha256(b"weights").hexdigest()
    path.write_bytes(b"weightz")
    with pytest.raises(ChecksumError, match=f"expected one starting {prefix}"):
        verify_file(path, spec, what="test")
