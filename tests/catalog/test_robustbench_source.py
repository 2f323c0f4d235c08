"""RobustBench cards: the leaderboard's published values, stored as published (fractions, None with a reason),
and where each card's weights are. Reads only the recorded data file (no torch, no robustbench import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from securitynet.catalog.sources import BUILTIN_SOURCES
from securitynet.catalog.sources import robustbench as source
from securitynet.cli import app


def _info(card) -> dict:
    return source.zoo_data()["model_info"][card.dataset][card.arch_kwargs["threat_model"]][card.name]


def test_every_card_carries_the_leaderboards_clean_and_robust_accuracy_as_published() -> None:
    cards = list(source.iter_cards())
    assert len(cards) == sum(len(models) for threats in source.zoo_data()["zoo"].values()
                             for models in threats.values())
    for card in cards:
        info = _info(card)
        assert card.purpose == "security" and card.source == "robustbench"
        assert card.published.test_accuracy == pytest.approx(float(info["clean_acc"]) / 100)
        assert "model_info/" in card.published.source and source.zoo_data()["commit"][:12] in card.published.source
        robust = card.extra["robustbench"]["published_robust_accuracy"]
        key = card.extra["robustbench"]["published_robust_accuracy_key"]
        if robust is None:
            assert "extra.robustbench.published_robust_accuracy" in card.missing_reasons
        else:
            assert robust == pytest.approx(float(info[key]) / 100)
        # never measured by RobustBench: missing with a reason, never 0
        assert card.published.train_accuracy is None and "published.train_accuracy" in card.missing_reasons


def test_an_external_evaluation_replaces_autoattack_as_the_leaderboard_does() -> None:
    external = [card for card in source.iter_cards() if _info(card).get("external")]
    assert external
    for card in external:
        assert card.extra["robustbench"]["published_robust_accuracy_key"] == "external"
    corruptions = source.cards_by_id()["robustbench/imagenet/corruptions/AlexNet"]
    assert corruptions.extra["robustbench"]["published_robust_accuracy"] == pytest.approx(0.2112)


def test_blank_or_missing_leaderboard_values_are_missing_with_a_reason() -> None:
    assert source.percent("") is None and source.percent(None) is None and source.percent("n/a") is None
    assert source.percent("150") is None  # not a percentage
    entry = source.zoo_data()["zoo"]["cifar10"]["Linf"]["Carmon2019Unlabeled"]
    card = source._card("cifar10", "Linf", "Carmon2019Unlabeled", entry, {"clean_acc": "", "autoattack_acc": None})
    assert card.published.test_accuracy is None and "published.test_accuracy" in card.missing_reasons
    assert card.extra["robustbench"]["published_robust_accuracy"] is None
    assert "autoattack_acc" in card.missing_reasons["extra.robustbench.published_robust_accuracy"]
    bare = source._card("cifar10", "Linf", "Carmon2019Unlabeled", entry, None)
    assert "the leaderboard has no model_info" in bare.missing_reasons["published.test_accuracy"]


@pytest.mark.parametrize("text, expected", [
    ("NeurIPS 2019", ("NeurIPS", 2019)), ("arXiv, Mar 2021", ("arXiv", 2021)), ("arXiv, Dec. 2022", ("arXiv", 2022)),
    ("GitHub,<br>Oct 2019", ("GitHub", 2019)), ("Pattern Recognition 2024", ("Pattern Recognition", 2024)),
    ("N/A", (None, None)), (None, (None, None)),
])
def test_venue_and_year(text: str | None, expected: tuple) -> None:
    assert source.venue_and_year(text) == expected


def test_weights_are_where_the_zoo_says_and_ensembles_say_why_they_cannot_load() -> None:
    cards = list(source.iter_cards())
    ensembles = [card for card in cards if card.extra["robustbench"]["layout"] and "ensemble" in card.tags]
    assert ensembles
    for card in ensembles:
        assert card.weights.urls == [] and "ensemble" in card.missing_reasons["weights.urls"]
        assert len(card.extra["robustbench"]["gdrive_ids"]) > 1
    timm_hosted = [card for card in cards if card.extra["robustbench"]["timm"]]
    assert {card.weights.urls[0].split("/")[2] for card in timm_hosted} <= {"github.com", "download.pytorch.org"}
    for card in cards:
        assert card.weights.sha256 is None and "weights.sha256" in card.missing_reasons
    prefixed = [card for card in cards if card.weights.source_hash]  # torch.hub names: AlexNet, Standard_R50
    assert {card.name for card in prefixed} == {"AlexNet", "Standard_R50"}
    assert all(card.weights.source_hash_algo == "sha256-prefix" for card in prefixed)
    kireev = source.cards_by_id()["robustbench/cifar10/corruptions/Kireev2021Effectiveness_RLAT"]
    assert kireev.weights.inner_key == "last"


def test_imagenet_inputs_follow_robustbenchs_preprocessing() -> None:
    cards = source.cards_by_id()
    standard = cards["robustbench/imagenet/Linf/Salman2020Do_R50"].input  # Res256Crop224
    assert (standard.size, standard.resize_shorter, standard.center_crop) == ((224, 224), 256, True)
    assert standard.mean is None  # the model normalises inside
    deit = cards["robustbench/imagenet/corruptions/Tian2022Deeper_DeiT-S"]  # timm cfg: crop_pct 0.9, bicubic
    assert (deit.input.resize_shorter, deit.input.interpolation) == (248, "bicubic")
    assert "centre-crops 288x288" in cards["robustbench/imagenet/Linf/Wong2020Fast"].missing_reasons[
        "input.center_crop"]
    assert cards["robustbench/cifar10/Linf/Carmon2019Unlabeled"].input.size == (32, 32)


def test_the_source_is_built_in_and_listed_by_source(tmp_path: Path) -> None:
    assert "securitynet.catalog.sources.robustbench" in BUILTIN_SOURCES
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "catalog", "list",
                                      "--source", "robustbench", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert len(listed) == len(list(source.iter_cards()))
    assert {card["source"] for card in listed} == {"robustbench"}
