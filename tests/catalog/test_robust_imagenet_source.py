"""Robust ImageNet source: one card per README checkpoint, robustness-checkpoint key mapping, eval transform."""

from __future__ import annotations

import re
from collections import Counter

from securitynet.catalog.sources import robust_imagenet as source

CARDS = source.cards_by_id()
PUBLISHED_FILES = [
    "densenet_l2_eps0.ckpt", "densenet_l2_eps3.ckpt", "mobilenet_l2_eps0.ckpt", "mobilenet_l2_eps3.ckpt",
    "resnet18_l2_eps0.01.ckpt", "resnet18_l2_eps0.03.ckpt", "resnet18_l2_eps0.05.ckpt", "resnet18_l2_eps0.ckpt",
    "resnet18_l2_eps3.ckpt", "resnet50_l2_eps0.01.ckpt", "resnet50_l2_eps0.03.ckpt", "resnet50_l2_eps0.05.ckpt",
    "resnet50_l2_eps0.ckpt", "resnet50_l2_eps3.ckpt", "resnext50_32x4d_l2_eps0.ckpt", "resnext50_32x4d_l2_eps3.ckpt",
    "shufflenet_l2_eps0.ckpt", "shufflenet_l2_eps3.ckpt", "vgg16_bn_l2_eps0.ckpt", "vgg16_bn_l2_eps3.ckpt",
]


def test_every_readme_checkpoint_has_a_card() -> None:
    assert len(CARDS) == 67
    counts = Counter((c.extra[source.SOURCE]["arch"], c.extra[source.SOURCE]["threat_model"]) for c in CARDS.values())
    assert counts[("resnet18", "l2")] == counts[("wide_resnet50_4", "l2")] == 10
    assert counts[("resnet50", "linf")] == 5 and counts[("densenet", "l2")] == 2


def test_the_twenty_published_rows_match_by_file_name() -> None:
    for name in PUBLISHED_FILES:
        card_id = source.match_published_name(name, "imagenet")
        assert card_id == f"robust_imagenet/{name.removesuffix('.ckpt')}" and CARDS[card_id].name == name
    assert source.match_published_name("resnet18_l2_eps3.ckpt", "cifar10") is None
    assert source.match_published_name("resnet18_l2_eps7.ckpt", "imagenet") is None


def test_checkpoint_reading_follows_the_wrapper() -> None:
    expected_prefix = {
        "resnet18": "module.model.", "resnet50": "module.model.", "wide_resnet50_2": "module.model.",
        "wide_resnet50_4": "module.model.", "densenet": "module.model.model.", "mnasnet": "module.model.model.",
        "mobilenet": "module.model.model.", "resnext50_32x4d": "module.model.model.",
        "shufflenet": "module.model.model.", "vgg16_bn": "module.model.model.",
    }
    for card in CARDS.values():
        arch = card.extra[source.SOURCE]["arch"]
        assert card.weights.key_prefix == expected_prefix[arch], card.id
        assert card.weights.inner_key == "model" and card.weights.format == "checkpoint" and card.weights.strict
    assert CARDS["robust_imagenet/densenet_l2_eps0"].architecture == "torchvision:densenet161"
    wide4 = CARDS["robust_imagenet/wide_resnet50_4_l2_eps3"]
    assert (wide4.architecture, wide4.arch_kwargs) == ("torchvision:resnet50", {"width_per_group": 256})


def test_urls_hashes_and_published_accuracy() -> None:
    card = CARDS["robust_imagenet/resnet50_l2_eps3"]
    assert card.weights.urls[0] == "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/resnet50_l2_eps3.ckpt"
    assert card.weights.urls[1].startswith(
        "https://robustnessws4285631339.blob.core.windows.net/public-models/robust_imagenet/resnet50_l2_eps3.ckpt?")
    assert card.published.test_accuracy == 0.6283  # README: 62.83
    for card in CARDS.values():
        if card.weights.sha256 is None:
            assert "weights.sha256" in card.missing_reasons, card.id
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", card.weights.sha256) and "weights.sha256" not in card.missing_reasons
    hashes = [c.weights.sha256 for c in CARDS.values() if c.weights.sha256]
    assert len(hashes) == len(set(hashes)) >= 30


def test_input_is_the_imagenet_evaluation_transform() -> None:
    for card in CARDS.values():
        spec = card.input
        assert (spec.size, spec.resize_shorter, spec.center_crop) == ((224, 224), 256, True)
        assert spec.mean == (0.485, 0.456, 0.406) and spec.std == (0.229, 0.224, 0.225)
        assert card.num_classes == 1000 and card.train_size == 1_281_167 and card.dataset == "imagenet"
