"""Checkpoint-layout check without downloads: built modules against each source's documented layout."""

from __future__ import annotations

import pytest

from securitynet.catalog.sources import adversary_loss_landscape, medmnist, pytorchcv, robust_imagenet
from securitynet.zoo.layout import check_card_layout, check_layouts, robustness_checkpoint_keys


def _replace_weights(card, **fields):
    return card.model_copy(update={"weights": card.weights.model_copy(update=fields)})


def test_every_adversary_loss_landscape_card_matches_the_recorded_layout() -> None:
    results = check_layouts(adversary_loss_landscape.iter_cards())
    assert len(results) == 81 and all(r.ok for r in results), [r.summary() for r in results if not r.ok][:3]
    assert {r.reference for r in results} == {
        f"adversary_loss_landscape_layout.json[{folder}]" for folder in ("resnet_cifar10", "vgg_cifar10", "lenet_mnist")
    }


@pytest.mark.slow
def test_every_robust_imagenet_card_matches_and_its_key_mapping_keeps_only_the_classifier() -> None:
    results = check_layouts(robust_imagenet.iter_cards())
    assert len(results) == 67 and all(r.ok for r in results), [r.summary() for r in results if not r.ok][:3]
    references = {r.reference for r in results}
    assert "robust_imagenet_layout.json[wide_resnet50_4]" in references
    assert "torchvision densenet161 (num_classes=1000)" in references


def test_a_wrong_key_prefix_is_caught() -> None:
    cards = robust_imagenet.cards_by_id()
    wrapped = _replace_weights(cards["robust_imagenet/mobilenet_l2_eps0"], key_prefix="module.model.")
    result = check_card_layout(wrapped)
    assert result.ok is False and "key mapping keeps" in result.summary()
    plain = _replace_weights(cards["robust_imagenet/resnet18_l2_eps0"], key_prefix="module.")
    assert "attacker.model." in check_card_layout(plain).summary()


def test_a_wrong_architecture_is_caught() -> None:
    card = adversary_loss_landscape.cards_by_id()["adversary_loss_landscape/resnet_plain_const_eps8_wd1e-3_200-run1"]
    narrow = check_card_layout(card.model_copy(update={"arch_kwargs": {"width": 4}}))
    assert narrow.ok is False and narrow.mismatched["conv1.weight"] == ((32, 3, 3, 3), (16, 3, 3, 3))
    resnet = pytorchcv.pytorchcv_card("resnet20_cifar10")
    wrong = check_card_layout(resnet.model_copy(update={"architecture": "pytorchcv:resnet56_cifar10"}))
    assert wrong.ok is False and wrong.unexpected  # resnet56 has more blocks than the resnet20 checkpoint


def test_non_strict_pytorchcv_card_may_lack_checkpoint_entries_but_not_add_any() -> None:
    card = pytorchcv.pytorchcv_card("ntsnet_cub")
    assert card.weights.strict is False
    result = check_card_layout(card)
    assert result.ok is True and not result.missing


def test_robustness_checkpoint_keys_hold_every_wrapper_part() -> None:
    keys = robustness_checkpoint_keys({"fc.weight": (10, 4)}, "module.model.model.")
    assert set(keys) == {
        "module.model.model.fc.weight", "module.attacker.model.model.fc.weight",
        "module.normalizer.new_mean", "module.normalizer.new_std",
        "module.attacker.normalize.new_mean", "module.attacker.normalize.new_std",
    }


@pytest.mark.slow
def test_every_medmnist_card_matches_the_recorded_layout() -> None:
    results = check_layouts(medmnist.iter_cards())
    assert len(results) == 174 and all(r.ok for r in results), [r.summary() for r in results if not r.ok][:3]
