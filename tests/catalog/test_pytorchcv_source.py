"""The pytorchcv source: cards generated from the installed package, checked against pytorchcv's own code.

pytorchcv's functions (its metainfo loader, ``get_model_file`` URL construction, ``get_model``, weight
counts) are the independent reference here; the source itself reads the package as text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorchcv.model_provider import get_model
from pytorchcv.models.common import model_store

from securitynet.catalog.sources import pytorchcv as source
from securitynet.errors import UnknownModelError
from securitynet.zoo.loader import load_target

SUFFIX_DATASET = {"_cifar100": "cifar100", "_cifar10": "cifar10", "_svhn": "svhn", "_cub": "cub200"}
CLASSIFIER_TEST_SETS = {"cf", "cub", "in1k"}
SMALL_IMAGE_DATASETS = ("cifar10", "cifar100", "svhn")
# A sample of the large-input cards: CUB models (incl. NTS-Net at 448 px), ImageNet models at 224, 299
# and 240 px, a ResNet(A) without an evaluation size in the CSV, a TF port with non-standard inputs.
LARGE_INPUT_SAMPLE = (
    "resnet10_cub",
    "seresnet10_cub",
    "mobilenet_w1_cub",
    "proxylessnas_mobile_cub",
    "resnet18",
    "inceptionv3",
    "resneta10",
    "efficientnet_b1b",
    "efficientnet_b0c",
    "mobilenetv2_wd4",
    "shufflenetv2_wd2",
)


def _pytorchcv_rows() -> list[dict[str, str]]:
    """pytorchcv's CSV, read with pytorchcv's own loader."""
    header, *rows = model_store.load_csv(model_store.get_model_metainfos_file_path())
    return [dict(zip(header, row, strict=True)) for row in rows]


def _suffix_dataset(name: str) -> str:
    return next((ds for suffix, ds in SUFFIX_DATASET.items() if name.endswith(suffix)), "imagenet")


def _reference_metainfo() -> dict[str, tuple]:
    """pytorchcv's metainfo dict, with the weights of names that a later weightless duplicate row hides."""
    reference = dict(model_store.get_model_metainfo_dict())
    for row in _pytorchcv_rows():
        name = row["model_name"]
        if row["checksum"] != "NA" and reference[name][2] == "NA":
            reference[name] = (int(row["net_weights"]), row["error_value"], row["checksum"], row["repo_release_tag"])
    return reference


@pytest.fixture(scope="module")
def cards() -> dict[str, object]:
    return {card.name: card for card in source.iter_cards()}


# --- the model list --------------------------------------------------------------------------------------


def test_names_per_dataset_are_pytorchcvs_released_classifiers(cards) -> None:
    expected: dict[str, set[str]] = {ds: set() for ds in source.DATASETS}
    for row in _pytorchcv_rows():
        if row["checksum"] != "NA" and row["test_dataset"] in CLASSIFIER_TEST_SETS:
            expected[_suffix_dataset(row["model_name"])].add(row["model_name"])
    for dataset, names in expected.items():
        assert set(source.list_names(dataset)) == names, dataset
        assert {n for n, c in cards.items() if c.dataset == dataset} == names
    counts = Counter(card.dataset for card in cards.values())
    assert counts == {ds: len(names) for ds, names in expected.items()}
    assert len(cards) == sum(counts.values()) == len(source.list_names())


def test_suffix_and_test_dataset_column_agree_for_every_released_classifier() -> None:
    for row in _pytorchcv_rows():
        if row["checksum"] == "NA" or row["test_dataset"] not in CLASSIFIER_TEST_SETS:
            continue
        dataset = _suffix_dataset(row["model_name"])
        assert source.DATASETS[dataset].csv_test_dataset == row["test_dataset"], row["model_name"]


def test_weightless_duplicate_row_does_not_hide_released_weights(cards) -> None:
    # pytorchcv 0.0.74 lists irevnet301 twice; its own dict keeps the later row, which has no weights.
    hidden = {n for n, v in model_store.get_model_metainfo_dict().items() if v[2] == "NA"}
    recovered = {n for n, v in _reference_metainfo().items() if v[2] != "NA"} & hidden
    assert recovered, "expected pytorchcv's CSV to hold a weightless duplicate of a released model"
    assert recovered <= set(cards)
    for name in recovered:
        assert cards[name].weights.source_hash == _reference_metainfo()[name][2]


def test_every_card_names_a_model_pytorchcv_builds(cards) -> None:
    from pytorchcv.model_provider import _models

    assert set(cards) <= set(_models)


# --- weights: URL, file names and hash as pytorchcv constructs them --------------------------------------


class _Captured(Exception):
    def __init__(self, url: str, path: str) -> None:
        super().__init__(url)
        self.url, self.path = url, path


def test_weight_url_and_sha1_match_pytorchcvs_own_construction(cards, monkeypatch, tmp_path: Path) -> None:
    reference = _reference_metainfo()
    monkeypatch.setattr(model_store, "get_model_metainfo_dict", lambda: reference)

    def capture(url: str, path: str | None = None, **_: object) -> str:
        raise _Captured(url, str(path))

    monkeypatch.setattr(model_store, "_download", capture)
    for name, card in cards.items():
        with pytest.raises(_Captured) as caught:
            model_store.get_model_file(name, local_model_store_dir_path=str(tmp_path))
        weights = card.weights
        assert weights.urls == [caught.value.url], name
        assert weights.filename == Path(caught.value.path).name
        assert weights.archive_member == Path(caught.value.path).name.removesuffix(".zip")
        assert weights.source_hash == reference[name][2]
        assert (weights.source_hash_algo, weights.source_hash_scope, weights.format) == ("sha1", "file", "zip")
        assert weights.sha256 is None and "weights.sha256" in card.missing_reasons
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]  # nothing was downloaded or written


# --- published accuracy: the error code's meaning, checked against the package README --------------------


def _readme_cells(name: str, code: str, sha1: str, tag: str) -> list[str]:
    """The README row whose training-log link names these weights: model, error code, and their sha1 prefix
    or release (a Gluon-trained model's log may name the .npz it was converted from, with that file's sha1;
    some logs sit in an earlier release than the weights)."""
    from importlib.metadata import distribution

    text = distribution("pytorchcv").read_text("METADATA") or ""
    lines = [line for line in text.splitlines() if f"/{name}-{code}-" in line]
    exact = [line for line in lines if f"/{name}-{code}-{sha1[:8]}." in line]
    lines = exact or [line for line in lines if f"/download/{tag}/{name}-" in line]
    assert len(lines) == 1, f"{name}: {len(lines)} README rows"
    return [cell.strip() for cell in lines[0].strip().strip("|").split("|")]


def test_error_code_is_top1_for_small_datasets_and_top5_for_imagenet(cards) -> None:
    for name, card in cards.items():
        info = card.extra["pytorchcv"]
        code = int(info["error_code"]) / 100
        cells = _readme_cells(name, info["error_code"], card.weights.source_hash, info["release_tag"])
        if card.dataset == "imagenet":
            top1, top5 = float(cells[1]), float(cells[2])
            assert top5 == pytest.approx(code), name  # the code in the file name is the top-5 error
            assert card.published.test_accuracy == pytest.approx(1 - top1 / 100), name
            assert info["top5_accuracy"] == pytest.approx(1 - code / 100)
        else:
            assert float(cells[1]) == pytest.approx(code), name  # "Error, %" column: top-1
            assert card.published.test_accuracy == pytest.approx(1 - code / 100), name
        assert "pytorchcv 0.0.74" in card.published.source
        assert card.published.train_accuracy is None and "published.train_accuracy" in card.missing_reasons


def test_resnet20_cifar10_card() -> None:
    card = source.pytorchcv_card("resnet20_cifar10")
    assert card.id == "pytorchcv/resnet20_cifar10"
    assert card.architecture == "pytorchcv:resnet20_cifar10"
    assert (card.dataset, card.num_classes, card.train_size, card.training_split) == ("cifar10", 10, 50000, "train")
    assert card.published.test_accuracy == pytest.approx(0.9403)
    assert card.weights.urls == [
        "https://github.com/osmr/imgclsmob/releases/download/v0.0.163/resnet20_cifar10-0597-9b0024ac.pth.zip"
    ]
    assert card.input.size == (32, 32) and card.input.mean == source.CIFAR_MEAN
    assert (card.license, card.purpose, card.output_kind, card.family) == ("MIT", "benchmark", "logits", "resnet")
    assert card.paper.url == "https://arxiv.org/abs/1512.03385"


def test_dataset_facts_on_cards(cards) -> None:
    expected = {
        "cifar10": (10, 50000),
        "cifar100": (100, 50000),
        "svhn": (10, 73257),
        "cub200": (200, 5994),
        "imagenet": (1000, 1281167),
    }
    for card in cards.values():
        assert (card.num_classes, card.train_size) == expected[card.dataset]
        assert card.source == "pytorchcv" and card.id == f"pytorchcv/{card.name}"


def test_imagenet_input_size_is_the_csv_evaluation_size(cards) -> None:
    rows = {row["model_name"]: row for row in _pytorchcv_rows() if row["checksum"] != "NA"}
    for name, card in cards.items():
        if card.dataset != "imagenet":
            continue
        size = rows[name]["img_size"]
        assert card.input.size == ((int(size),) * 2 if size != "NA" else (224, 224)), name
        nonstandard = rows[name]["remark"].endswith("*")
        assert card.input.mean == (source.TF_PORT_MEAN if nonstandard else source.IMAGENET_MEAN), name
        assert ("preprocessing-unverified" in card.tags) == nonstandard


def test_paper_from_docstring_agrees_with_csv_arxiv_id(cards) -> None:
    rows = {row["model_name"]: row for row in _pytorchcv_rows() if row["checksum"] != "NA"}
    checked = 0
    for name, card in cards.items():
        arxiv = rows[name]["arxiv_paper"]
        assert card.paper.url and card.paper.title, name
        if arxiv != "NA":
            # The CSV stores arXiv ids like numbers, so a trailing zero can be lost (1904.09730 -> 1904.0973).
            cited = card.paper.url.rsplit("/", 1)[-1]
            assert cited.rstrip("0") == arxiv.rstrip("0"), (name, card.paper.url, arxiv)
            checked += 1
    assert checked > 250


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("resnet20_cifar10", "resnet"),
        ("wrn20_10_1bit_cifar100", "wrn"),
        ("wrn16_10_svhn", "wrn"),
        ("densenet40_k12_bc_svhn", "densenet"),
        ("bn_vgg11", "vgg"),
        ("darknet53", "darknet"),
        ("ntsnet_cub", "ntsnet"),
        ("seresnet10_cub", "seresnet"),
        ("resnesta18", "resnesta"),
    ],
)
def test_family(name: str, family: str) -> None:
    assert source.pytorchcv_card(name).family == family


# --- lookup and errors ------------------------------------------------------------------------------------


def test_unknown_or_non_classifier_names_are_refused() -> None:
    for name in ("resnet20_mnist", "pspnet_resnetd50b_voc", "resnet200"):  # unknown, segmentation, no weights
        with pytest.raises(UnknownModelError, match=name):
            source.pytorchcv_card(name)
    with pytest.raises(UnknownModelError, match="mnist"):
        source.list_names("mnist")


def test_match_published_name_rules() -> None:
    assert source.match_published_name("resnet20_cifar10", "CIFAR-10") == "resnet20_cifar10"
    assert source.match_published_name("vgg11_bn", "ImageNet1k") == "bn_vgg11"
    assert source.match_published_name("vgg13b_bn", "ImageNet1k") == "bn_vgg13b"
    assert source.match_published_name("resnet10_cub", "CUB-200-2011") == "resnet10_cub"
    assert source.match_published_name("resnet20", "SVHN") == "resnet20_svhn"
    assert source.match_published_name("resnet20_cifar10", "CIFAR-100") is None  # dataset disagrees
    assert source.match_published_name("resnet18", "CIFAR-10") is None
    assert source.match_published_name("lenet5", "MNIST") is None


@pytest.mark.shared_data
def test_every_imgclsmob_row_of_the_published_table_matches(shared_data: Path) -> None:
    text = (shared_data / "reference" / "securitynet_database_README.md").read_text(encoding="utf-8")
    header: list[str] | None = None
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or line.startswith("|:"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "Model Name":
            header = cells
        elif header is not None:
            rows.append(dict(zip(header, cells, strict=False)))
    imgclsmob = [row for row in rows if "osmr/imgclsmob" in row.get("Weights", "")]
    assert len(imgclsmob) == 263
    direct = 0
    for row in imgclsmob:
        name = source.match_published_name(row["Model Name"], row["Data Name"])
        assert name is not None, row["Model Name"]
        direct += name == row["Model Name"]
        card = source.pytorchcv_card(name)
        assert card.dataset == source.normalise_dataset(row["Data Name"])
        if card.dataset in SMALL_IMAGE_DATASETS:
            # SecurityNet measured these itself; a wrong match would be far off imgclsmob's own figure.
            assert abs(card.published.test_accuracy - float(row["Test Accuracy"])) < 0.005, name
    assert direct == 255  # the other 8 are SecurityNet's vgg*_bn spellings of pytorchcv's bn_vgg*


# --- generation stays light -------------------------------------------------------------------------------


def test_listing_cards_constructs_no_model_and_imports_neither_torch_nor_pytorchcv() -> None:
    script = (
        "import sys\n"
        "import securitynet.catalog.card\n"
        "torch_before = 'torch' in sys.modules\n"
        "from securitynet.catalog.sources import pytorchcv as source\n"
        "cards = list(source.iter_cards())\n"
        "assert len(cards) > 500, len(cards)\n"
        "assert 'pytorchcv' not in sys.modules\n"
        "assert torch_before or 'torch' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr


# --- building: every CIFAR-10/100 and SVHN card, a sample of the large-input cards ------------------------


def _check_build(name: str) -> None:
    torch.set_num_threads(1)
    card = source.pytorchcv_card(name)
    target = load_target(card, pretrained=False, device="cpu")
    trainable = sum(p.numel() for p in target.module.parameters() if p.requires_grad)
    if not card.arch_kwargs:  # NTS-Net without its aux head has fewer weights than pytorchcv counts
        assert trainable == model_store.get_model_weight_count(name), name
    in_size = getattr(target.module, "in_size", None)
    if in_size is not None:
        assert tuple(in_size) == card.input.size, name
    # The raw module's output width, not predict_proba: with random weights and eval-mode batch norm the deepest
    # nets (ResNet-1001, ...) overflow to NaN, which says nothing about the card, and the output guard rightly
    # refuses NaN posteriors.
    with torch.no_grad():
        outputs = target.module(torch.rand(1, card.input.channels, *card.input.size))
    assert tuple(outputs.shape) == (1, card.num_classes), name


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for ds in SMALL_IMAGE_DATASETS for n in source.list_names(ds)])
def test_every_cifar_and_svhn_card_builds_with_the_cards_number_of_classes(name: str) -> None:
    _check_build(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE_INPUT_SAMPLE)
def test_imagenet_and_cub_sample_builds(name: str) -> None:
    _check_build(name)


@pytest.mark.slow
def test_ntsnet_cub_builds_at_448_with_aux_off() -> None:
    card = source.pytorchcv_card("ntsnet_cub")
    assert card.input.size == (448, 448) and card.arch_kwargs == {"aux": False} and card.weights.strict is False
    _check_build("ntsnet_cub")
    # the aux=False module is pytorchcv's aux=True module less the part-classifier head
    full = sum(p.numel() for p in get_model("ntsnet_cub", aux=True).parameters() if p.requires_grad)
    assert full == model_store.get_model_weight_count("ntsnet_cub")


# --- the card's weight fields work with the zoo: a zip released the way imgclsmob releases them -----------


def _release_like_imgclsmob(card, folder: Path) -> tuple[torch.nn.Module, str]:
    """Random weights for the card's architecture, zipped as imgclsmob does; returns (module, sha1 of .pth)."""
    import hashlib
    import zipfile

    torch.manual_seed(0)
    module = get_model(card.name, pretrained=False).eval()
    member = folder / card.weights.archive_member
    torch.save(module.state_dict(), member)
    with zipfile.ZipFile(folder / card.weights.filename, "w") as archive:
        archive.write(member, arcname=member.name)
    sha1 = hashlib.sha1(member.read_bytes()).hexdigest()
    member.unlink()
    return module, sha1


def test_card_loads_a_mirrored_imgclsmob_style_zip(monkeypatch, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("SECURITYNET_MIRROR", str(mirror))
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    card = source.pytorchcv_card("resnet20_cifar10")
    reference, sha1 = _release_like_imgclsmob(card, mirror)
    # The real sha1 belongs to the real release; this stand-in zip has its own.
    local = card.model_copy(update={"weights": card.weights.model_copy(update={"source_hash": sha1})})
    target = load_target(local, pretrained=True, device="cpu")
    image = np.random.default_rng(1).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    with torch.inference_mode():
        expected = torch.softmax(reference(target.preprocess(image)), dim=1).numpy()
    np.testing.assert_allclose(target.predict_proba(image), expected, rtol=1e-5, atol=1e-6)
    assert target.weight_hash == f"sha1:{sha1}"


def test_card_refuses_a_zip_whose_pth_does_not_have_pytorchcvs_sha1(monkeypatch, tmp_path: Path) -> None:
    from securitynet.errors import ChecksumError

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("SECURITYNET_MIRROR", str(mirror))
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    card = source.pytorchcv_card("resnet20_cifar10")  # the real sha1, which a stand-in cannot have
    _release_like_imgclsmob(card, mirror)
    with pytest.raises(ChecksumError, match="sha1"):
        load_target(card, pretrained=True, device="cpu")
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix == ".pth"]
    assert not cached  # nothing unverified stays in the cache
