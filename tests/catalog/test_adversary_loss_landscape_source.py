"""AdversaryLossLandscape source: one card per released checkpoint, named as the published table names them."""

from __future__ import annotations

from collections import Counter

import pytest

from securitynet.catalog.sources import adversary_loss_landscape as source
from securitynet.errors import CardError

CARDS = {card.id: card for card in source.iter_cards()}


def test_every_released_checkpoint_has_one_card() -> None:
    paths = source.release()["checkpoints"]
    assert len(paths) == len(CARDS) == 81
    assert Counter(card.dataset for card in CARDS.values()) == {"cifar10": 72, "mnist": 9}
    assert {card.extra[source.SOURCE]["path"] for card in CARDS.values()} == set(paths)
    # Every run folder holds the same file names: local file names must still differ.
    assert len({card.weights.filename for card in CARDS.values()}) == len(CARDS)


def test_card_names_follow_the_path_rule() -> None:
    card = CARDS["adversary_loss_landscape/resnet_periodic_cosine_eps8_wd1e-3_max16_100-run2"]
    path = "models/resnet_cifar10/periodic_cosine/2/resnet_8_eps8_wd1e-3_max16_100.ckpt"
    assert card.extra[source.SOURCE]["path"] == path
    assert card.name == "resnet_periodic_cosine_eps8_wd1e-3_max16_100"
    facts = card.extra[source.SOURCE]
    assert (facts["run"], facts["epoch"], facts["width"], facts["eps"], facts["eps_max"]) == (2, 100, 8, "8", "16")
    vgg = CARDS["adversary_loss_landscape/vgg_plain_cosine_eps8_wd1e-3_200-run3"]
    assert vgg.extra[source.SOURCE]["path"] == "models/vgg_cifar10/plain_cosine/3/vgg_8_eps8_wd1e-3_200.ckpt"
    lenet = CARDS["adversary_loss_landscape/lenet_cosine_eps0.4_max0.6_100-run1"]
    assert lenet.dataset == "mnist" and lenet.extra[source.SOURCE]["weight_decay"] is None


def test_cifar_cards_load_like_the_release_evaluates() -> None:
    for card in CARDS.values():
        facts = card.extra[source.SOURCE]
        assert card.input.scale == pytest.approx(1 / 255) and card.input.mean is None and card.input.std is None
        assert card.input.size == ((32, 32) if card.dataset == "cifar10" else (28, 28))
        assert card.input.channels == (3 if card.dataset == "cifar10" else 1)
        assert card.arch_kwargs["width"] == facts["width"]
        assert card.weights.format == "state_dict" and card.weights.inner_key is None
        commit = source.release()["commit"]
        assert card.weights.urls == [
            f"https://media.githubusercontent.com/media/IVRL/AdversaryLossLandscape/{commit}/{facts['path']}",
            f"https://github.com/IVRL/AdversaryLossLandscape/raw/{commit}/{facts['path']}",
        ]
        # No hash could be read: said so, never invented.
        assert card.weight_hash is None and "weights.sha256" in card.missing_reasons
        assert card.purpose == "security" and card.paper.year == 2020 and card.num_classes == 10


def test_published_rows_map_to_runs_in_table_order() -> None:
    name = "resnet_plain_const_eps8_wd1e-3_200"
    assert [source.match_published_row(name, "cifar10", k) for k in (1, 2, 3)] == [
        f"adversary_loss_landscape/{name}-run{k}" for k in (1, 2, 3)
    ]
    assert source.match_published_row(name, "cifar10", 4) is None
    assert source.match_published_row(name, "cifar100", 1) is None
    assert source.match_published_row("resnet_plain_const_eps8_wd1e-3_150", "cifar10", 1) is None


def test_every_published_security_name_has_three_runs(shared_data) -> None:
    from securitynet.catalog.sources.published_table import read_securitynet_database

    database = read_securitynet_database(shared_data / "reference" / "securitynet_database_README.md")
    names = Counter(row.name for row in database.security if row.data_name == "CIFAR-10")
    assert len(names) == 24 and set(names.values()) == {3}
    for name in names:
        assert all(source.match_published_row(name, "cifar10", k) for k in (1, 2, 3)), name


@pytest.mark.parametrize("path", [
    "models/resnet_cifar10/periodic_cosine/x/resnet_8_eps8_100.ckpt",
    "models/resnet_cifar10/periodic_cosine/1/vgg_8_eps8_100.ckpt",
    "weights/resnet_8_eps8_100.ckpt",
])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(CardError, match="AdversaryLossLandscape"):
        source.parse_path(path)


def test_a_recorded_sha256_goes_onto_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = source.checkpoints()[0]
    facts = {**source.release(), "sha256": {checkpoint.path: "ab" * 32}}
    monkeypatch.setattr(source, "release", lambda: facts)
    card = source._card(checkpoint)
    assert card.weights.sha256 == "ab" * 32 and "weights.sha256" not in card.missing_reasons
