"""MedMNIST v2 architectures: exactly the checkpoints' layout, outputs of the card's shape, real data in."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import medmnist as source
from securitynet.errors import CardError, ChecksumError
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.loader import build_module, load_target
from securitynet.zoo.weights import fetch_weights, load_state_dict_file

LAYOUT = json.loads(
    resources.files("securitynet.catalog").joinpath("cards", "medmnist_layout.json").read_text("utf-8")
)
CARDS = {card.id: card for card in source.iter_cards()}
HEAD = ("linear.weight", "linear.bias")  # the only tensors whose shape depends on the number of classes


def _layout_key(card: ModelCard) -> str:
    depth = card.architecture.split("_")[1]  # medmnist_resnet18_3d -> resnet18
    return f"{depth}_{card.arch_kwargs.get('conversion', '2d')}"


def _layout_of(module: torch.nn.Module) -> list[tuple[str, list[int]]]:
    return [(name, list(tensor.shape)) for name, tensor in module.state_dict().items()]


@contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_a_layout_is_recorded_for_every_architecture_and_conversion() -> None:
    expected = {f"resnet{depth}_{conv}" for depth in (18, 50) for conv in ("2d", "acs", "2.5d", "3d")}
    assert set(LAYOUT["layouts"]) == expected
    assert {_layout_key(card) for card in CARDS.values()} == expected


@pytest.mark.parametrize("key", sorted(LAYOUT["layouts"]))
def test_built_architecture_has_exactly_the_checkpoint_layout(key: str) -> None:
    recorded = LAYOUT["layouts"][key]
    module = build_architecture(recorded["architecture"], recorded["num_classes"], **recorded["arch_kwargs"])
    assert _layout_of(module) == [(name, shape) for name, shape in recorded["state_dict"].items()]


def test_recorded_layouts_agree_with_tensors_seen_in_released_checkpoints() -> None:
    for seen in LAYOUT["observed_in_released_checkpoints"]:
        archive, member = seen["checkpoint"].split("/")
        flag = archive.removeprefix("weights_").removesuffix(".zip")
        card = CARDS[f"medmnist/{flag}/{member.removesuffix('.pth')}"]
        layout = dict(_layout_of(build_module(card)))
        for name, shape in seen["tensors"].items():
            assert layout[name] == shape, (seen["checkpoint"], name)


def test_conversions_shape_the_kernels_as_the_acsconv_operators_do() -> None:
    shapes = {key: LAYOUT["layouts"][key]["state_dict"]["layer2.0.conv1.weight"] for key in LAYOUT["layouts"]}
    assert shapes["resnet18_2d"] == shapes["resnet18_acs"] == [128, 64, 3, 3]  # ACS keeps the 2D kernel
    assert shapes["resnet18_2.5d"] == [128, 64, 1, 3, 3]
    assert shapes["resnet18_3d"] == [128, 64, 3, 3, 3]


def test_unknown_conversion_is_a_clear_error() -> None:
    with pytest.raises(CardError, match="conversion"):
        build_architecture("medmnist_resnet18_3d", 2, conversion="4d")
    with pytest.raises(CardError, match="conversion"):
        build_architecture("medmnist_resnet50_3d", 2, conversion="2d")


@pytest.mark.slow
def test_every_card_builds_and_gives_its_number_of_classes() -> None:
    # All 174 cards reduce to these combinations; building each once covers every card.
    combos: dict[tuple, ModelCard] = {}
    for card in CARDS.values():
        key = (card.architecture, tuple(sorted(card.arch_kwargs.items())), card.num_classes, card.input.size)
        combos.setdefault(key, card)
    assert all(
        (c.architecture, tuple(sorted(c.arch_kwargs.items())), c.num_classes, c.input.size) in combos
        for c in CARDS.values()
    )
    assert len(combos) == 32
    torch.manual_seed(0)
    with _one_thread(), torch.no_grad():
        for card in combos.values():
            module = build_module(card).eval()
            recorded = LAYOUT["layouts"][_layout_key(card)]["state_dict"]
            built = dict(_layout_of(module))
            assert list(built) == list(recorded)
            assert {n: s for n, s in built.items() if n not in HEAD} == {
                n: s for n, s in recorded.items() if n not in HEAD
            }
            assert built["linear.weight"][0] == built["linear.bias"][0] == card.num_classes
            x = torch.rand(1, card.input.channels, *card.input.size)
            out = module(x)
            assert out.shape == (1, card.num_classes) and torch.isfinite(out).all(), card.id


def _write_release_style_checkpoint(card: ModelCard, folder: Path) -> Path:
    """A weights_<flag>.zip holding <name>.pth the way the release does: legacy torch format, {'net': ...}."""
    torch.manual_seed(1)
    state = build_module(card).state_dict()
    member = folder / card.weights.archive_member
    torch.save({"net": state}, member, _use_new_zipfile_serialization=False)
    archive = folder / "mirror" / card.weights.filename
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(member, arcname=card.weights.archive_member)
    return archive.parent


def test_release_style_checkpoint_is_found_in_its_archive_and_loads_strictly(tmp_path: Path) -> None:
    card = CARDS["medmnist/breastmnist/resnet18_28_2"]
    mirror = _write_release_style_checkpoint(card, tmp_path)
    path = fetch_weights(card, offline=True, progress=False, mirrors=[mirror])
    state = load_state_dict_file(path, card.weights)
    module = build_module(card)
    module.load_state_dict(state, strict=True)
    expected = torch.load(tmp_path / card.weights.archive_member, weights_only=True)["net"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in expected.items())


def test_member_with_a_recorded_sha256_is_verified(tmp_path: Path) -> None:
    # The card of the released pathmnist run 1 carries the member's sha256: a stand-in file must fail.
    card = CARDS["medmnist/pathmnist/resnet18_28_1"].model_copy(deep=True)
    card.weights.source_hash = None  # the stand-in archive cannot match Zenodo's md5 either; test the member hash
    mirror = _write_release_style_checkpoint(card, tmp_path)
    with pytest.raises(ChecksumError, match="sha256"):
        fetch_weights(card, offline=True, progress=False, mirrors=[mirror])


@pytest.mark.shared_data
def test_breastmnist_images_give_posteriors_of_the_cards_shape(shared_data: Path) -> None:
    images = np.load(shared_data / "medmnist" / "breastmnist.npz")["test_images"][:32]  # (32, 28, 28) grey
    target = load_target(CARDS["medmnist/breastmnist/resnet18_28_1"], pretrained=False, device="cpu")
    x = target.preprocess(images[:4])
    assert x.shape == (4, 3, 28, 28)
    assert torch.equal(x[:, 0], x[:, 2])  # grey repeated to RGB, as --as_rgb does
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    with _one_thread():
        probs = target.predict_proba(images, batch_size=16)
    assert probs.shape == (32, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.shared_data
def test_adrenal_volumes_give_posteriors_of_the_cards_shape(shared_data: Path) -> None:
    volumes = np.load(shared_data / "medmnist" / "adrenalmnist3d.npz")["test_images"][:2]  # (2, 28, 28, 28)
    target = load_target(CARDS["medmnist/adrenalmnist3d/resnet18_acs_1"], pretrained=False, device="cpu")
    x = target.preprocess(volumes)
    assert x.shape == (2, 3, 28, 28, 28)
    np.testing.assert_allclose(x[:, 1].numpy(), volumes / 255.0, rtol=1e-6)  # scaled to [0, 1], not normalised
    with _one_thread():
        probs = target.predict_proba(volumes, batch_size=1)
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
