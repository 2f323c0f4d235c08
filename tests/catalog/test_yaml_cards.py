"""YAML cards: the shipped public MNIST cards are complete and exact; malformed cards fail clearly."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest

from securitynet.catalog.sources import BUILTIN_SOURCES, yaml_cards
from securitynet.errors import CardError

PUBLIC_MNIST_IDS = {
    "file/lenet5_advertorch_clean",
    "file/lenet5_advertorch_advtrained",
    "file/mnistnet_shrinkbench",
    "file/badnet_verazuo_mnist",
    "file/mlp_backdoored_cs612",
}


def _public_cards() -> dict:
    return {card.id: card for card in yaml_cards.iter_cards() if card.id in PUBLIC_MNIST_IDS}


def test_source_is_builtin_and_ships_the_five_public_mnist_cards() -> None:
    assert "securitynet.catalog.sources.yaml_cards" in BUILTIN_SOURCES
    cards = _public_cards()
    assert set(cards) == PUBLIC_MNIST_IDS
    for card in cards.values():
        assert card.source == "file"
        assert (card.dataset, card.num_classes, card.train_size, card.training_split) == ("mnist", 10, 60000, "train")
        assert card.input is not None and card.input.channels == 1 and card.input.size == (28, 28)
        assert card.backdoor is not None, f"{card.id}: backdoor ground truth must be explicit"
        assert card.published.test_accuracy is not None and 0.9 < card.published.test_accuracy < 1
        assert card.published.train_accuracy is None  # never measured by the source: missing, not 0
        assert card.weights.sha256 and card.weights.size_bytes and card.weights.filename
        first, pinned = card.weights.urls
        assert first.startswith("https://github.com/") and "/raw/" in first
        assert pinned.startswith("https://raw.githubusercontent.com/")
        assert first.rsplit("/", 1)[-1] == pinned.rsplit("/", 1)[-1]  # the same file of the same repository


def test_cards_state_the_documented_preprocessing_and_ground_truth() -> None:
    cards = _public_cards()
    unit = cards["file/lenet5_advertorch_clean"].input
    assert unit.scale == pytest.approx(1 / 255) and unit.mean is None and unit.std is None
    shrink = cards["file/mnistnet_shrinkbench"].input
    assert (shrink.mean, shrink.std) == ((0.1307,), (0.3081,))
    badnet = cards["file/badnet_verazuo_mnist"]
    assert (badnet.input.mean, badnet.input.std) == ((0.5,), (0.5,))
    assert badnet.output_kind == "probabilities"
    assert badnet.backdoor.attack == "badnets" and badnet.backdoor.target_label == 1
    assert badnet.backdoor.trigger["kind"] == "patch" and badnet.backdoor.trigger["size"] == 5
    assert badnet.backdoor.trigger["position"] == "bottom-right" and badnet.backdoor.trigger["value"] == 255
    mlp = cards["file/mlp_backdoored_cs612"]
    assert mlp.backdoor.attack == "unknown" and mlp.backdoor.target_label is None
    assert "backdoor.target_label" in mlp.missing_reasons
    assert mlp.license is None and "license" in mlp.missing_reasons
    assert cards["file/lenet5_advertorch_advtrained"].purpose == "security"
    assert {cards[i].backdoor.attack for i in ("file/lenet5_advertorch_clean", "file/mnistnet_shrinkbench")} == {"none"}


def test_card_hashes_and_sizes_match_the_shared_manifest(shared_data: Path) -> None:
    with open(shared_data / "MANIFEST.tsv", newline="") as handle:
        manifest = {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}
    for card in _public_cards().values():
        row = manifest[f"models/mnist/{card.weights.filename}"]
        assert card.weights.sha256 == row["sha256"], card.id
        assert card.weights.size_bytes == int(row["bytes"]), card.id
    trigger = _public_cards()["file/badnet_verazuo_mnist"].backdoor.trigger
    assert trigger["image_sha256"] == manifest[f"models/mnist/{trigger['image']}"]["sha256"]


def test_every_public_card_builds_its_architecture_offline() -> None:
    from securitynet.zoo.loader import load_target

    for card in _public_cards().values():
        target = load_target(card, pretrained=False, device="cpu")
        probs = target.predict_proba(np.zeros((3, 28, 28), dtype=np.uint8))
        assert probs.shape == (3, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# --- user cards and malformed cards ---------------------------------------------------------------

GOOD_CARD = """
- id: mine/tiny
  architecture: mlp_cs612
  dataset: mnist
  num_classes: 10
  input: {channels: 1, size: [28, 28]}
  weights:
    urls: [weights/tiny.pt]
    sha256: {sha}
"""


def _write(tmp_path: Path, text: str, name: str = "cards.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("{sha}", "ab" * 32))
    return path


def test_user_card_gets_defaults_and_an_absolute_local_path(tmp_path: Path) -> None:
    (card,) = yaml_cards.load_card_file(_write(tmp_path, GOOD_CARD))
    assert card.source == "file" and card.name == "tiny"
    assert card.weights.urls == [(tmp_path / "weights" / "tiny.pt").resolve().as_uri()]


def test_a_yaml_card_with_a_local_file_loads_its_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from securitynet.errors import ChecksumError
    from securitynet.zoo.archs import build_architecture
    from securitynet.zoo.loader import load_target
    from securitynet.zoo.weights import sha256_file

    module = build_architecture("mlp_cs612", 10)
    (tmp_path / "weights").mkdir()
    torch.save(module.state_dict(), tmp_path / "weights" / "tiny.pt")
    text = GOOD_CARD.replace("{sha}", sha256_file(tmp_path / "weights" / "tiny.pt"))
    (card,) = yaml_cards.load_card_file(_write(tmp_path, text))
    target = load_target(card, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(images).float().div(255).unsqueeze(1)), 1).numpy()
    np.testing.assert_allclose(target.predict_proba(images), expected, rtol=1e-5, atol=1e-6)
    # The local file is used in place (offline too) and verified like any download; a wrong hash is refused.
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    assert load_target(card, device="cpu").weight_hash == f"sha256:{card.weights.sha256}"
    wrong = card.model_copy(update={"weights": card.weights.model_copy(update={"sha256": "0" * 64})})
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_target(wrong, device="cpu")
    assert (tmp_path / "weights" / "tiny.pt").is_file()  # the user's own file is never deleted


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace("  dataset: mnist\n", ""), "dataset"),
        (lambda t: t.replace("num_classes: 10", "num_classes: ten"), "num_classes"),
        (lambda t: t + "  colour: red\n", "colour"),
        (lambda t: t.replace("size: [28, 28]}", "size: [28, 28], grey: true}"), "input.grey"),
        (lambda t: t.replace("[weights/tiny.pt]", "[https://example.org/tiny.pt]").replace(
            "    sha256: {sha}\n", ""), "weights.sha256"),
        (lambda t: t.replace("sha256: {sha}", "sha256: nothex"), "weights.sha256"),
        (lambda t: t.replace("  architecture: mlp_cs612\n", ""), "architecture"),
        (lambda t: t.replace("  input: {channels: 1, size: [28, 28]}\n", ""), "input"),
        (lambda t: t + "  backdoor: {attack: badnets, target_label: 12}\n", "backdoor.target_label"),
        (lambda t: t + "  backdoor: {attack: badnets, trigger: {kind: patch, size: 3, position: middle}}\n",
         "backdoor.trigger.position"),
        (lambda t: t.replace("[weights/tiny.pt]", "[s3://bucket/tiny.pt]"), "weights.urls"),
    ],
)
def test_malformed_card_names_file_card_and_field(tmp_path: Path, edit, field: str) -> None:
    path = _write(tmp_path, edit(GOOD_CARD))
    with pytest.raises(CardError) as info:
        yaml_cards.load_card_file(path)
    message = str(info.value)
    assert str(path) in message and "mine/tiny" in message and field in message


def test_duplicate_ids_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    twice = GOOD_CARD + GOOD_CARD.replace("- id", "\n- id")
    with pytest.raises(CardError, match="appears twice"):
        yaml_cards.load_card_file(_write(tmp_path, twice))
    with pytest.raises(CardError, match="not valid YAML"):
        yaml_cards.load_card_file(_write(tmp_path, "- id: [unclosed", "bad.yaml"))
    with pytest.raises(CardError, match="is empty"):
        yaml_cards.load_card_file(_write(tmp_path, "", "empty.yaml"))
    with pytest.raises(CardError, match="entry 1 must be a mapping"):
        yaml_cards.load_card_file(_write(tmp_path, "- just a string", "str.yaml"))
    with pytest.raises(CardError, match="cannot be read"):
        yaml_cards.load_card_file(tmp_path / "absent.yaml")
