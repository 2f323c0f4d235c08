"""The MedMNIST v2 source: one card per published benchmark model, with the facts of the release."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from medmnist.info import INFO

from securitynet.catalog.sources import BUILTIN_SOURCES
from securitynet.catalog.sources import medmnist as source

CARDS = list(source.iter_cards())
BY_ID = {card.id: card for card in CARDS}
DATASETS_2D = {"pathmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist", "breastmnist", "bloodmnist",
               "tissuemnist", "organamnist", "organcmnist", "organsmnist"}
DATASETS_3D = {"organmnist3d", "nodulemnist3d", "adrenalmnist3d", "fracturemnist3d", "vesselmnist3d", "synapsemnist3d"}
ZENODO_LINK = "https://zenodo.org/records/10519652"


def test_one_card_per_published_model_variant() -> None:
    assert len(CARDS) == 174 and len(BY_ID) == 174
    per_dataset = Counter(card.dataset for card in CARDS)
    assert per_dataset == {**{d: 6 for d in DATASETS_2D}, **{d: 18 for d in DATASETS_3D}}
    variants_3d = Counter((c.architecture, c.arch_kwargs["conversion"]) for c in CARDS if c.dataset in DATASETS_3D)
    assert set(variants_3d.values()) == {18}  # 6 datasets x 3 runs of each depth and conversion
    assert set(variants_3d) == {
        (f"medmnist_resnet{depth}_3d", conversion) for depth in (18, 50) for conversion in ("acs", "2.5d", "3d")
    }


def test_multilabel_chestmnist_is_left_out_with_a_reason() -> None:
    assert not any(card.dataset == "chestmnist" for card in CARDS)
    assert "multi-label" in source.skipped_datasets()["chestmnist"]


def test_source_is_builtin() -> None:
    assert "securitynet.catalog.sources.medmnist" in BUILTIN_SOURCES


@pytest.mark.parametrize("card_id", ["medmnist/breastmnist/resnet50_28_3", "medmnist/vesselmnist3d/resnet18_2.5D_2"])
def test_card_describes_the_released_checkpoint(card_id: str) -> None:
    card = BY_ID[card_id]
    flag, stem = card_id.split("/")[1:]
    assert card.source == "medmnist" and card.purpose == "other" and card.output_kind == "logits"
    assert card.num_classes == len(INFO[flag]["label"]) == 2
    assert card.weights.format == "zip"
    assert card.weights.filename == f"weights_{flag}.zip"
    assert card.weights.urls == [f"https://zenodo.org/records/7782114/files/weights_{flag}.zip?download=1"]
    assert card.weights.archive_member == f"{stem}.pth"
    assert card.weights.inner_key == "net" and card.weights.key_prefix is None and card.weights.strict
    assert card.extra["run"] == int(stem[-1])
    assert card.extra["securitynet_weights_link"] == ZENODO_LINK
    assert card.license == "CC BY 4.0"
    assert card.paper.url == "https://arxiv.org/abs/2110.14795" and card.paper.num_authors == 8


def test_input_specs_follow_the_official_preprocessing() -> None:
    grey_2d = BY_ID["medmnist/pneumoniamnist/resnet18_28_1"]
    colour_2d = BY_ID["medmnist/bloodmnist/resnet18_28_1"]
    for card in (grey_2d, colour_2d):  # --as_rgb: grey images are repeated to three channels
        assert card.architecture == "medmnist_resnet18_2d" and card.arch_kwargs == {"in_channels": 3}
        assert card.input.channels == 3 and card.input.size == (28, 28)
        assert card.input.scale == pytest.approx(1 / 255)
        assert card.input.mean == (0.5, 0.5, 0.5) and card.input.std == (0.5, 0.5, 0.5)
    volume = BY_ID["medmnist/nodulemnist3d/resnet50_3D_1"]
    assert volume.architecture == "medmnist_resnet50_3d"
    assert volume.arch_kwargs == {"in_channels": 3, "conversion": "3d"}
    assert volume.input.channels == 3 and volume.input.size == (28, 28, 28)
    assert volume.input.scale == pytest.approx(1 / 255)
    assert volume.input.mean is None and volume.input.std is None


def test_names_ids_and_architectures_agree() -> None:
    pattern_2d = re.compile(r"^medmnist/(\w+)/resnet(18|50)_28_([123])$")
    pattern_3d = re.compile(r"^medmnist/(\w+3d)/resnet(18|50)_(acs|2\.5D|3D)_([123])$")
    for card in CARDS:
        if card.dataset in DATASETS_2D:
            flag, depth, _ = pattern_2d.match(card.id).groups()
            assert card.name == card.id.rsplit("/", 1)[1]
            assert card.architecture == f"medmnist_resnet{depth}_2d"
        else:
            flag, depth, spelled, _ = pattern_3d.match(card.id).groups()
            assert card.name == card.id.rsplit("/", 1)[1] + ".pth"  # as spelled in the SecurityNet table
            assert card.architecture == f"medmnist_resnet{depth}_3d"
            assert card.arch_kwargs["conversion"] == spelled.lower()
        assert flag == card.dataset
        assert card.num_classes == len(INFO[flag]["label"])


def test_train_size_is_that_of_the_v2_data_the_models_were_trained_on() -> None:
    # MedMNIST v3 changed these training splits; the released models predate it.
    expected_v2 = {"organamnist": 34581, "organcmnist": 13000, "organsmnist": 13940, "organmnist3d": 972}
    for flag, size in expected_v2.items():
        card = next(c for c in CARDS if c.dataset == flag)
        assert card.train_size == size
        assert card.extra["train_size_installed_medmnist"] == INFO[flag]["n_samples"]["train"] != size
    unchanged = BY_ID["medmnist/bloodmnist/resnet50_28_2"]
    assert unchanged.train_size == INFO["bloodmnist"]["n_samples"]["train"] == 11959
    assert "train_size_installed_medmnist" not in unchanged.extra


def test_hashes_have_the_right_scope_and_missing_ones_say_why() -> None:
    path_member = BY_ID["medmnist/pathmnist/resnet18_28_1"].weights
    assert path_member.sha256 == "64774e5fdf8786c7f0182eb6a7300d162b12a7a93455805cb2987eb0c12258e0"
    assert (path_member.source_hash, path_member.source_hash_algo) == ("90b4fb5cc399a4caaba8401c438d43c5", "md5")
    assert path_member.source_hash_scope == "archive"  # Zenodo's md5 covers the whole zip, not the member
    other_run = BY_ID["medmnist/pathmnist/resnet18_28_2"]
    assert other_run.weights.sha256 is None and "weights.sha256" in other_run.missing_reasons
    assert other_run.weights.source_hash == path_member.source_hash  # same archive
    no_md5 = BY_ID["medmnist/octmnist/resnet18_28_1"]
    assert no_md5.weights.source_hash is None and "weights.source_hash" in no_md5.missing_reasons
    with_hash = sum(card.weights.sha256 is not None for card in CARDS)
    assert with_hash == 2


def test_listing_cards_builds_no_model_and_imports_no_zoo() -> None:
    code = (
        "import sys\n"
        "from securitynet.catalog.sources.medmnist import iter_cards\n"
        "assert len(list(iter_cards())) == 174\n"
        "assert not [m for m in sys.modules if m.startswith(('securitynet.zoo', 'acsconv'))]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _published_medmnist_rows(path: Path) -> list[dict[str, str]]:
    """Rows of the published tables whose weights link is the MedMNIST Zenodo record."""
    rows, header = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "Model Name" in cells:
            header = cells
        elif header and len(cells) == len(header) and f"({ZENODO_LINK})" in cells[header.index("Weights")]:
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


@pytest.mark.shared_data
def test_cards_are_exactly_the_published_medmnist_models(shared_data: Path) -> None:
    table = shared_data / "reference" / "securitynet_database_README.md"
    rows = _published_medmnist_rows(table)
    assert len(rows) == 174
    published = {(row["Data Name"], row["Model Name"]): row for row in rows}
    ours = {(card.dataset, card.name): card for card in CARDS}
    assert set(ours) == set(published)
    for key, card in ours.items():
        assert card.num_classes == int(published[key]["Num Class"])
        assert card.train_size == int(published[key]["Training Size"])
        assert card.purpose == published[key]["Purpose"]
        assert card.paper.year == int(published[key]["Year"])


def test_binary_tasks_keep_the_two_output_units_of_the_official_models() -> None:
    # MedMNIST's training script builds every single-label model with len(labels) outputs and cross-entropy,
    # binary tasks included: two logits, not the one-unit binary_logit head of many user models.
    binary = {flag for flag, info in INFO.items() if info["task"] == "binary-class"}
    cards = [card for card in source.iter_cards() if card.dataset in binary]
    assert {"breastmnist", "pneumoniamnist"} <= {card.dataset for card in cards}
    assert {(card.num_classes, card.output_kind) for card in cards} == {(2, "logits")}


def test_a_binary_medmnist_model_answers_two_class_posteriors() -> None:
    import numpy as np

    from securitynet.zoo.loader import load_target

    card = next(c for c in source.iter_cards() if c.id == "medmnist/breastmnist/resnet18_28_1")
    target = load_target(card, device="cpu", pretrained=False)
    probs = target.predict_proba(np.zeros((3, 28, 28), dtype=np.uint8))
    assert probs.shape == (3, 2) and np.allclose(probs.sum(axis=1), 1)
