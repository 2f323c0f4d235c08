"""The trojan zoo generator: ground truth on the cards, twins, idempotence, rejection of failed backdoors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from securitynet.errors import TrainingError
from securitynet.zoo import selftrained
from securitynet.zoo.loader import load_target
from securitynet.zoo.trojan.triggers import apply_trigger
from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec, build_trojan_zoo


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _tiny(**changes) -> TrojanZooSpec:
    """Digits (8x8), MLPs, a few epochs: seconds on two busy cores."""
    base = dict(dataset="digits", n_clean=1, n_trojaned=2, attacks=("badnets", "blended"), seed=3,
                architectures=("mlp",), epochs=12, eval_size=300, min_attack_success=0.0)
    return TrojanZooSpec(**{**base, **changes})


@pytest.mark.slow
def test_zoo_cards_carry_ground_truth_and_twins_share_their_data(home: Path, store) -> None:
    cards = build_trojan_zoo(_tiny(), store=store, device="cpu", progress=False)
    clean, *trojaned = cards
    assert clean.backdoor.attack == "none" and clean.purpose == "self-trained"
    assert 0.5 < clean.extra["trojan"]["clean_accuracy"] <= 1
    assert [c.backdoor.attack for c in trojaned] == ["badnets", "blended"]
    for card in trojaned:
        info = card.backdoor
        assert card.extra["trojan"]["twin_of"] == clean.id
        assert card.training_indices == clean.training_indices or card.training_split == clean.training_split
        assert card.architecture == clean.architecture
        assert card.extra["recipe"]["train"]["seed"] == clean.extra["recipe"]["train"]["seed"]
        assert 0.05 <= info.poison_rate <= 0.2 and 0 <= info.target_label < 10
        poisoning = card.extra["poisoning"]
        assert poisoning["target_label"] == info.target_label and poisoning["trigger"] == info.trigger
        assert poisoning["n_poisoned"] == len(poisoning["poisoned_source_indices"]) > 0
        # The recorded success rate is what the stored weights and the recorded trigger give.
        from securitynet.data import load_split

        test = load_split("digits", "test")
        target = load_target(card, device="cpu")
        others = test.labels != info.target_label
        hits = target.predict(apply_trigger(test.images[others], info.trigger)) == info.target_label
        assert info.attack_success_rate == pytest.approx(hits.mean(), abs=0.15)  # measured on a 300-image sample
        assert info.attack_success_rate > 0.5
    assert {row for row in store.model_ids()} >= {c.id for c in cards}
    stored = store.get_card(trojaned[0].id)
    assert stored.backdoor == trojaned[0].backdoor


def test_building_again_reuses_every_model(home: Path) -> None:
    first = build_trojan_zoo(_tiny(n_trojaned=1), device="cpu", progress=False)
    runs = selftrained.TRAINING_RUNS["count"]
    again = build_trojan_zoo(_tiny(n_trojaned=1), device="cpu", progress=False)
    assert selftrained.TRAINING_RUNS["count"] == runs
    assert [c.to_dict() for c in again] == [c.to_dict() for c in first]
    # Growing the zoo keeps the existing models (ids and weights) and trains only the new one.
    grown = build_trojan_zoo(_tiny(n_trojaned=2), device="cpu", progress=False)
    assert selftrained.TRAINING_RUNS["count"] == runs + 1
    assert [c.weights.sha256 for c in grown[:2]] == [c.weights.sha256 for c in first]


def test_a_backdoor_that_does_not_work_is_drawn_again_and_the_last_is_kept_marked(home: Path) -> None:
    spec = _tiny(n_clean=1, n_trojaned=1, attacks=("blended",), poison_rate_range=(0.01, 0.011),
                 min_attack_success=1.0, max_attempts=2, epochs=2)
    (_, card) = build_trojan_zoo(spec, device="cpu", progress=False)
    trojan = card.extra["trojan"]
    assert trojan["attempt"] == 1 and trojan["accepted"] is False
    assert "last attempt, kept anyway" in trojan["rejected_reason"]
    assert card.backdoor.attack_success_rate < 1.0


def test_bad_zoo_specs_are_refused() -> None:
    with pytest.raises(TrainingError, match="attacks must be among"):
        TrojanZooSpec(dataset="mnist", n_clean=1, n_trojaned=1, attacks=("trojannn",))
    with pytest.raises(TrainingError, match="at least one model"):
        TrojanZooSpec(dataset="mnist", n_clean=0, n_trojaned=0)
    with pytest.raises(TrainingError, match="poison_rate_range"):
        TrojanZooSpec(dataset="mnist", n_clean=1, n_trojaned=1, poison_rate_range=(0.3, 0.1))


def test_cli_builds_a_zoo_into_the_store(home: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from securitynet.cli import app
    from securitynet.store import Store

    db = tmp_path / "cli.sqlite"
    result = CliRunner().invoke(app, [
        "--db", str(db), "zoo", "trojan", "--dataset", "digits", "--clean", "1", "--trojaned", "1",
        "--attacks", "badnets", "--architectures", "mlp", "--epochs", "12", "--min-asr", "0", "--json",
    ])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["attack"] for r in rows] == ["none", "badnets"]
    assert rows[1]["target_label"] is not None and rows[1]["attack_success_rate"] is not None
    store = Store(f"sqlite:///{db}")
    assert store.get_card(rows[1]["id"]).backdoor.attack == "badnets"
    bad = CliRunner().invoke(app, ["--db", str(db), "zoo", "trojan", "--dataset", "nosuchdata", "--clean", "1",
                                   "--trojaned", "0"])
    assert bad.exit_code == 1 and "nosuchdata" in bad.output
    assert np.isfinite(rows[0]["clean_accuracy"])


@pytest.mark.slow
def test_gtsrb_colour_zoo(home: Path, shared_data: Path) -> None:
    """Colour images with 43 classes: patches on every channel, the evaluation on the official test set."""
    from securitynet.data import get_dataset, locate_split
    from securitynet.errors import DatasetError

    try:
        locate_split(get_dataset("gtsrb"), "train")
    except DatasetError as exc:
        pytest.skip(f"GTSRB is not available offline: {exc}")
    spec = TrojanZooSpec(dataset="gtsrb", n_clean=1, n_trojaned=1, attacks=("badnets",), seed=1,
                         train_size=3000, architectures=("small_cnn",), epochs=3, eval_size=500,
                         min_attack_success=0.0)
    clean, trojaned = build_trojan_zoo(spec, device="cpu", progress=False)
    assert clean.input.channels == 3 and tuple(clean.input.size) == (32, 32) and clean.num_classes == 43
    assert len(clean.training_indices) == 3000 and trojaned.training_indices == clean.training_indices
    assert trojaned.extra["trojan"]["evaluation"]["split"] == "test"
    assert 0 <= trojaned.backdoor.target_label < 43 and trojaned.backdoor.attack_success_rate is not None
