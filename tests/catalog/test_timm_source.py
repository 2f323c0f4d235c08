"""timm source: one card per pretrained image-classifier tag of the installed timm, made from timm's own metadata."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from timm.models import get_pretrained_cfg
from typer.testing import CliRunner

from securitynet.catalog.sources import BUILTIN_SOURCES, timm_hub
from securitynet.catalog.sources.timm_hub import card_for_tag, iter_cards, tag_counts, timm_pretrained_tags
from securitynet.cli import app
from securitynet.errors import CardError
from securitynet.zoo.coverage import sample_images
from securitynet.zoo.loader import build_module
from securitynet.zoo.target import images_to_tensor

COUNTS = Path(__file__).with_name("timm_parameter_counts.json")
PARAMETER_BUDGET = 8_000_000
DRAWN = 30
LABEL_SET_BUDGET = 25_000_000


def test_one_card_per_pretrained_image_classifier_tag() -> None:
    """Every tag timm lists is a card unless its pretrained head is no classifier: none at all (num_classes 0),
    or a CLIP-style image-text projection (a 'clip' tag whose width is no label set timm knows)."""
    tags = timm_pretrained_tags()
    cards = {card.id: card for card in iter_cards()}
    features = {t for t in tags if get_pretrained_cfg(t).num_classes == 0}
    assert f"timm/{next(iter(features))}" not in cards
    assert "timm/vit_base_patch16_clip_224.openai" not in cards  # an embedding tower (512 wide)
    assert "timm/vit_base_patch16_clip_224.openai_ft_in1k" in cards  # the same tower fine-tuned as a classifier
    assert "timm/mvitv2_base_cls.fb_inw21k" in cards  # 19,168 classes: a label set timm does not name ("other")
    counts = tag_counts()
    assert (counts.pretrained, counts.features) == (len(tags), len(features))
    assert len(cards) == counts.classifiers == counts.pretrained - counts.features - counts.embeddings
    assert set(cards) <= {f"timm/{t}" for t in tags}
    assert "securitynet.catalog.sources.timm_hub" in BUILTIN_SOURCES


@pytest.mark.slow
def test_tags_other_packages_register_with_timm_are_not_timm_cards() -> None:
    """robustbench registers some of its zoo models with timm on import; they stay robustbench's cards, so the
    timm source gives the same cards whatever was imported first (it gave 12 more after the robustbench tests)."""
    from securitynet.catalog.sources.robustbench import model_zoo

    model_zoo()
    registered_by_others = {
        tag for tag in timm.list_pretrained() if not timm.models.model_entrypoint(
            timm.models.get_arch_name(tag)).__module__.startswith("timm.")}
    assert "alexnet_imagenet_corruptions" in {tag.split(".")[0] for tag in registered_by_others}
    timm_hub._kinds.cache_clear()
    cards = {card.id for card in iter_cards()}
    assert not {f"timm/{tag}" for tag in registered_by_others} & cards
    assert set(timm_pretrained_tags()) == set(timm.list_pretrained()) - registered_by_others


def test_a_card_carries_the_pretrained_config() -> None:
    cfg = get_pretrained_cfg("resnet18.a1_in1k")
    card = card_for_tag("resnet18.a1_in1k")
    assert card.architecture == "timm:resnet18.a1_in1k" and card.dataset == "imagenet" and card.num_classes == 1000
    assert card.input.size == tuple(cfg.input_size[1:]) and card.input.interpolation == cfg.interpolation
    assert card.input.resize_shorter == math.floor(cfg.input_size[1] / cfg.crop_pct) and card.input.center_crop
    assert (card.input.mean, card.input.std) == (tuple(cfg.mean), tuple(cfg.std))
    assert card.weights.urls == ["https://huggingface.co/timm/resnet18.a1_in1k/resolve/main/model.safetensors"]
    assert card.paper.url == "https://arxiv.org/abs/2110.00476" and card.extra["label_set"] == "imagenet-1k"
    in21k = card_for_tag("vit_base_patch16_224.augreg_in21k")
    assert (in21k.dataset, in21k.num_classes, in21k.extra["label_set"]) == ("imagenet-21k-goog", 21843,
                                                                            "imagenet-21k-goog")
    assert card_for_tag("resnet18").id == f"timm/resnet18.{get_pretrained_cfg('resnet18').tag}"  # default tag
    with pytest.raises(CardError, match="feature extractor"):
        card_for_tag("vit_small_patch14_dinov2.lvd142m")


def test_parameter_counts_file_describes_the_installed_timm() -> None:
    data = json.loads(COUNTS.read_text())
    assert data["timm_version"] == timm.__version__
    assert set(data["parameters"]) == {card.name for card in iter_cards()}


@pytest.mark.slow
def test_thirty_tags_drawn_at_random_build_and_output_their_width() -> None:
    """30 tags drawn at random (seed 0) from those under 8M parameters (counted by
    scripts/timm_parameter_counts.py; building ViT-Huge-sized models on 2 CPU cores would take minutes) are
    built with random weights (pretrained=False) and each answers one image of its card's input size (a larger
    image goes through the card's resize and centre crop) with one row of num_classes scores; so is the smallest
    tag of every label set that has one under 25M parameters (ImageNet-12k, -21k, -22k... heads)."""
    counts = json.loads(COUNTS.read_text())["parameters"]
    pool = sorted(tag for tag, n in counts.items() if n is not None and n <= PARAMETER_BUDGET)
    assert len(pool) >= 100
    by_label_set: dict[str, str] = {}  # and the smallest tag of every label set, so other widths are built too
    for tag in sorted((t for t, n in counts.items() if n is not None and n <= LABEL_SET_BUDGET), key=counts.get):
        by_label_set.setdefault(card_for_tag(tag).extra["label_set"], tag)
    assert len(by_label_set) >= 5
    rng = np.random.default_rng(0)
    for tag in [*random.Random(0).sample(pool, DRAWN), *by_label_set.values()]:
        card = card_for_tag(tag)
        module = build_module(card).eval()
        x = images_to_tensor(sample_images(card.input, rng), card.input)
        assert tuple(x.shape[1:]) == (card.input.channels, *card.input.size), tag
        with torch.no_grad():
            out = module(x)
        assert tuple(out.shape) == (1, card.num_classes), tag
        assert bool(torch.isfinite(out).all()), tag


@pytest.mark.slow
def test_catalog_coverage_prints_the_timm_classifier_count_and_list_filters_by_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "db.sqlite"), "catalog", "coverage", "--format",
                                      "json"])
    assert result.exit_code == 0, result.output
    rows = {row["source"]: row for row in json.loads(result.output)["sources"]}
    counts = tag_counts()
    assert rows["timm"]["builtin"] == rows["timm"]["listed"] == counts.classifiers
    assert f"{counts.classifiers} image-classifier tags of {counts.pretrained} pretrained" in rows["timm"]["note"]
    assert rows["torchvision"]["builtin"] == rows["torchvision"]["listed"]
    listed = CliRunner().invoke(app, ["--db", str(tmp_path / "db.sqlite"), "catalog", "list", "--source", "timm",
                                      "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    assert len(listed.output.strip().splitlines()) - 1 == counts.classifiers  # one row per card, after the header
