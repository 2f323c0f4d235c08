"""`securitynet catalog coverage`: cards, building architectures, hashes, verified weights and layouts of the
published SecurityNet models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import robust_imagenet
from securitynet.catalog.sources.published import iter_cards
from securitynet.cli import app
from securitynet.store import Store
from securitynet.zoo.coverage import check_architecture, published_coverage, weights_state

README = "reference/securitynet_database_README.md"
# One published row per source (and two runs of one AdversaryLossLandscape configuration).
EXCERPT_ROWS = {("resnet20_cifar10", "CIFAR-10"), ("resnet18_28_1", "bloodmnist"),
                ("resnet_plain_const_eps8_wd1e-3_200", "CIFAR-10"), ("shufflenet_l2_eps3.ckpt", "ImageNet1k")}


def _excerpt(source: Path, target: Path) -> Path:
    """The published README with only a few rows per table kept (headers, alignment rows and sections intact)."""
    lines = source.read_text(encoding="utf-8").splitlines()
    kept, in_table = [], False
    for line in lines:
        if not line.startswith("|"):
            in_table = False
            kept.append(line)
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not in_table or cells[0].startswith(":--"):
            kept.append(line)  # header or alignment row
            in_table = True
        elif (cells[0], cells[2]) in EXCERPT_ROWS or "## New Models" in kept[-3:]:
            kept.append(line)
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target


@pytest.fixture
def excerpt(shared_data: Path, tmp_path: Path) -> Path:
    return _excerpt(shared_data / README, tmp_path / "README.MD")


@pytest.mark.slow
def test_excerpt_rows_are_covered_with_their_sources(excerpt: Path) -> None:
    cards = list(iter_cards(excerpt))
    assert len(cards) == 1 + 1 + 3 + 1  # the security configuration is listed three times
    report = published_coverage(cards, check_weights=False)
    by_source = {group.source: group for group in report.groups}
    assert set(by_source) == {"pytorchcv", "medmnist", "adversary_loss_landscape", "robust_imagenet"}
    assert by_source["adversary_loss_landscape"].models == 3
    total = report.total
    assert (total.models, total.card, total.builds, total.layout_ok) == (6, 6, 6, 6)
    assert total.url_with_hash == sum(1 for card in cards if card.weight_hash)
    rows = {row.card_id: row for row in report.rows}
    shuffle = rows["securitynet/imagenet/shufflenet_l2_eps3.ckpt"]
    assert shuffle.forward_device == "meta" and shuffle.weight_hash.startswith("sha256:")
    assert rows["securitynet/cifar10/resnet_plain_const_eps8_wd1e-3_200-3"].weight_hash is None
    assert set(report.weight_origins) == set(by_source)
    assert "huggingface.co" in report.weight_origins["robust_imagenet"]


def test_architecture_with_the_wrong_number_of_classes_is_reported() -> None:
    card = robust_imagenet.cards_by_id()["robust_imagenet/shufflenet_l2_eps0"]
    report = published_coverage([_linked(card.model_copy(update={"num_classes": 10}))], check_weights=False,
                                layout=False)
    # The architecture follows the card (10 outputs), so the forward pass agrees; the checkpoint layout would not.
    assert report.rows[0].classes_ok and report.rows[0].build_detail is None
    broken = _linked(card.model_copy(update={"architecture": "torchvision:no_such_model"}))
    row = published_coverage([broken], check_weights=False, layout=False).rows[0]
    assert not row.builds and not row.classes_ok and "no_such_model" in row.build_detail


def test_every_built_architecture_outputs_the_cards_classes_on_its_input_spec() -> None:
    card = robust_imagenet.cards_by_id()["robust_imagenet/mnasnet_l2_eps3"]
    for device in ("meta", "cpu"):
        check = check_architecture(card, device)
        assert check.builds and check.outputs == 1000 and check.detail is None, (device, check)
        assert check.device == device


def _linked(card: ModelCard) -> ModelCard:
    return card.model_copy(update={"extra": {**card.extra, "matched_card": card.id, "link": {"source": card.source}}})


def test_weights_are_verified_from_a_mirror_and_never_downloaded(tmp_path: Path) -> None:
    card = robust_imagenet.cards_by_id()["robust_imagenet/mobilenet_l2_eps0"]
    state, detail = weights_state(card, fetch=False, mirrors=[tmp_path])
    assert state == "not-local" and "--fetch" in detail
    path = tmp_path / card.weights.filename
    torch.save({"model": {"module.model.model.classifier.1.bias": torch.zeros(1000)}, "epoch": 1}, path)
    state, detail = weights_state(card, fetch=False, mirrors=[tmp_path])
    assert state == "failed" and "checksum" in detail  # not the released file: its sha256 differs
    from securitynet.zoo.weights import sha256_file

    mine = card.model_copy(update={"weights": card.weights.model_copy(update={"sha256": sha256_file(path)})})
    state, detail = weights_state(mine, fetch=False, mirrors=[tmp_path])
    assert state == "verified" and "sha256" in detail
    unhashed = card.model_copy(update={"weights": card.weights.model_copy(update={"sha256": None})})
    assert weights_state(unhashed, fetch=False, mirrors=[tmp_path])[0] == "unverified"


@pytest.mark.slow
def test_cli_reads_the_store_and_prints_json(excerpt: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner = CliRunner()
    empty = runner.invoke(app, ["--db", url, "catalog", "coverage", "--no-weights"])
    assert empty.exit_code == 0 and "import-securitynet" in empty.output and "Card sources" in empty.output
    assert runner.invoke(app, ["--db", url, "catalog", "import-securitynet", str(excerpt)]).exit_code == 0
    assert len(Store(url).query_cards(source="published")) == 6
    result = runner.invoke(app, ["--db", url, "catalog", "coverage", "--no-weights", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["models"] == data["total"]["builds"] == data["total"]["layout_ok"] == 6
    assert {row["source"] for row in data["models"]} == {
        "pytorchcv", "medmnist", "adversary_loss_landscape", "robust_imagenet"}
    table = runner.invoke(app, ["--db", url, "catalog", "coverage", "--no-weights", "--details"])
    assert table.exit_code == 0 and "Where the weights come from" in table.output
    assert "no weight hash" in table.output  # the AdversaryLossLandscape rows


@pytest.mark.slow
def test_all_529_published_models_have_a_card_and_a_building_architecture(shared_data: Path) -> None:
    cards = list(iter_cards(shared_data / README))
    report = published_coverage(cards, check_weights=False)
    total = report.total
    assert (total.models, total.card, total.builds, total.layout_ok) == (529, 529, 529, 529), [
        (r.card_id, r.build_detail, r.layout_detail) for r in report.rows if not (r.classes_ok and r.layout_ok)][:5]
    assert all(row.num_classes == row_card.num_classes for row, row_card in zip(report.rows, cards, strict=True))
    assert {g.source for g in report.groups} == {"pytorchcv", "medmnist", "adversary_loss_landscape",
                                                  "robust_imagenet"}
    assert sum(g.models for g in report.groups if g.source == "pytorchcv") == 263
    assert sum(g.models for g in report.groups if g.source == "medmnist") == 174
    assert set(report.weight_origins) == {g.source for g in report.groups}


def test_a_one_unit_binary_head_is_the_width_its_card_declares() -> None:
    from securitynet.catalog.card import InputSpec

    card = ModelCard(id="test/binary_lenet", name="binary_lenet", source="file", architecture="lenet",
                     arch_kwargs={"num_classes": 1, "in_channels": 1, "input_size": 28}, dataset="breastmnist",
                     input=InputSpec(channels=1, size=(28, 28)), output_kind="binary_logit")
    (row,) = published_coverage([_linked(card)], check_weights=False, layout=False).rows
    assert card.num_classes == 2 and row.classes_ok and row.build_detail is None
    two_units = card.model_copy(update={"arch_kwargs": {**card.arch_kwargs, "num_classes": 2}})
    (row,) = published_coverage([_linked(two_units)], check_weights=False, layout=False).rows
    assert not row.classes_ok and "binary_logit head needs 1" in row.build_detail
