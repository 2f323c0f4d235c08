"""Linking published SecurityNet rows to built-in source cards: every published model becomes loadable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from securitynet.catalog.builtin import builtin_card
from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources.linking import LOADING_FIELDS, link_published_card
from securitynet.catalog.sources.published import build_import, published_records
from securitynet.catalog.sources.published_table import read_securitynet_database

README = "reference/securitynet_database_README.md"


@pytest.fixture(scope="module")
def published(shared_data: Path) -> list[ModelCard]:
    return build_import(read_securitynet_database(shared_data / README)).cards


@pytest.mark.slow  # the whole published table is imported and linked once
def test_every_published_model_is_linked_to_a_source_card(published: list[ModelCard]) -> None:
    assert len(published) == 529
    sources = Counter(card.extra["link"]["source"] for card in published)
    assert sources == {"pytorchcv": 263, "medmnist": 174, "adversary_loss_landscape": 72, "robust_imagenet": 20}
    assert len({card.extra["matched_card"] for card in published}) == 529  # one row per released model
    for card in published:
        other = builtin_card(card.extra["matched_card"])
        assert other is not None and card.extra["securitynet"]["same_as"] == other.id
        for name in LOADING_FIELDS:
            assert getattr(card, name) == getattr(other, name), (card.id, name)
        assert (card.dataset, card.num_classes) == (other.dataset, other.num_classes), card.id
        assert card.source == "published" and "architecture" not in card.missing_reasons


@pytest.mark.slow  # the whole published table is imported and linked once
def test_published_annotation_and_link_are_kept(shared_data: Path, published: list[ModelCard]) -> None:
    raw = read_securitynet_database(shared_data / README)
    by_id = {card.id: card for card in published}
    row = next(r for r in raw.security if r.name == "resnet18_l2_eps3.ckpt")
    card = by_id["securitynet/imagenet/resnet18_l2_eps3.ckpt"]
    assert card.published.test_accuracy == row.numbers["Test Accuracy"] == 0.4826  # not the README's 53.12 %
    assert card.published.train_accuracy == row.numbers["Train Accuracy"]
    assert card.extra["securitynet"]["weights_link"] == row.weights.target
    assert card.weights.urls[0].startswith("https://huggingface.co/madrylab/robust-imagenet-models/")
    assert card.purpose == "security" and card.paper.country == "USA"
    # Rendering the published layout gives back the published Weights link, not the weight file.
    record = published_records([card])[0]
    assert record["Weights"] == row.weights.target


@pytest.mark.slow  # the whole published table is imported and linked once
def test_repeated_security_names_become_runs_in_table_order(published: list[ModelCard]) -> None:
    by_id = {card.id: card for card in published}
    name = "vgg_periodic_linear_eps8_wd1e-3_max16_150"
    for suffix, run in (("", 1), ("-2", 2), ("-3", 3)):
        card = by_id[f"securitynet/cifar10/{name}{suffix}"]
        assert card.extra["securitynet"]["occurrence"] == run
        assert card.extra["matched_card"] == f"adversary_loss_landscape/{name}-run{run}"
        path = f"models/vgg_cifar10/periodic_linear/{run}/vgg_8_eps8_wd1e-3_max16_150.ckpt"
        assert any(url.endswith(path) for url in card.weights.urls)


@pytest.mark.slow  # the whole published table is imported and linked once
def test_medmnist_and_pytorchcv_rows_take_their_source_loading_fields(published: list[ModelCard]) -> None:
    by_id = {card.id: card for card in published}
    blood = by_id["securitynet/bloodmnist/resnet18_28_1"]
    assert blood.extra["matched_card"] == "medmnist/bloodmnist/resnet18_28_1"
    assert blood.published.train_accuracy is None and "published.train_accuracy" in blood.missing_reasons
    cub = next(c for c in published if c.dataset == "cub200")
    assert cub.architecture.startswith("pytorchcv:") and cub.input.center_crop


def test_a_row_without_source_stays_unlinked_with_a_reason() -> None:
    card = ModelCard.from_dict({
        "id": "securitynet/cifar10/my_model", "name": "my_model", "source": "published", "dataset": "cifar10",
        "num_classes": 10, "weights": {"urls": ["https://example.org/project"]},
        "extra": {"securitynet": {"table": "security", "occurrence": 1, "data_name": "CIFAR-10", "same_as": None}},
    })
    linked = link_published_card(card)
    assert linked.architecture is None and "matched_card" not in linked.extra
    assert "no built-in source card matches 'my_model'" in linked.missing_reasons["architecture"]
    assert linked.weights.urls == ["https://example.org/project"]
