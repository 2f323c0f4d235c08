"""RobustBench: one card per model of the installed package's zoo, architectures built by the package's own code,
and RobustBench checkpoints (made here from the built architectures) loaded through the generic loader."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import robustbench as source
from securitynet.errors import ChecksumError, WeightsError
from securitynet.zoo.archs import robustbench_zoo as zoo
from securitynet.zoo.loader import build_module, load_target
from securitynet.zoo.weights import fetch_weights, sha256_file

# Built for real (random weights, one forward pass) up to this many parameters: 0.1-0.6 s each on one CPU core.
REAL_BUILD_MAX_PARAMETERS = 30_000_000


def _layout_digest(module: torch.nn.Module) -> str:
    shapes = [[key, list(tensor.shape)] for key, tensor in module.state_dict().items()]
    return hashlib.sha256(json.dumps(shapes).encode()).hexdigest()


def _cards(select) -> list[ModelCard]:
    return [card for card in source.iter_cards() if select(card.extra["robustbench"]["layout"])]


def _real(layout: dict) -> bool:
    return layout.get("parameters") is not None and layout["parameters"] <= REAL_BUILD_MAX_PARAMETERS


def test_one_card_per_zoo_model_by_dataset_and_threat_model() -> None:
    entries = zoo.zoo_entries()
    cards = list(source.iter_cards())
    by_group = Counter((card.dataset, card.arch_kwargs["threat_model"]) for card in cards)
    assert by_group == Counter({group: len(models) for group, models in entries.items()})
    assert {card.id for card in cards} == {source.card_id_of(dataset, threat, model)
                                           for (dataset, threat), models in entries.items() for model in models}
    for card in cards:  # the weights are where the installed zoo says
        entry = entries[(card.dataset, card.arch_kwargs["threat_model"])][card.name]
        ids = entry["gdrive_id"] if isinstance(entry["gdrive_id"], list) else [entry["gdrive_id"]]
        assert card.extra["robustbench"]["gdrive_ids"] == [i for i in ids if i]
        if card.weights.urls and ids[0]:
            assert card.weights.urls == [f"https://docs.google.com/uc?export=download&confirm=t&id={ids[0]}"]


@pytest.mark.slow  # ~55 architectures built and run on the CPU, ~25 s on one core
def test_small_architectures_build_and_output_the_cards_width() -> None:
    cards = _cards(_real)
    assert len(cards) >= 50
    torch.manual_seed(0)
    for card in cards:
        module = build_module(card).eval()
        assert _layout_digest(module) == card.extra["robustbench"]["layout"]["state_dict_sha256"], card.id
        with torch.no_grad():
            out = module(torch.rand(2, card.input.channels, *card.input.size))
        assert out.shape == (2, card.num_classes), card.id
        assert torch.isfinite(out).all(), card.id


@pytest.mark.slow  # ~150 architectures built with their tensors on the meta device, ~20 s
def test_large_architectures_have_the_recorded_layout_and_width_without_weights() -> None:
    cards = _cards(lambda layout: not _real(layout) and layout["recorded_on"] in ("meta", "meta-parameters"))
    assert len(cards) >= 140
    widths: dict[tuple, bool] = {}  # one forward pass per distinct layout, input size and width
    for card in cards:
        args = card.arch_kwargs
        module, how = zoo.build_shapes_only(args["dataset"], args["threat_model"], args["model"])
        layout = card.extra["robustbench"]["layout"]
        assert how == layout["recorded_on"], card.id
        assert _layout_digest(module) == layout["state_dict_sha256"], card.id
        assert sum(p.numel() for p in module.parameters()) == layout["parameters"], card.id
        key = (layout["state_dict_sha256"], card.input.size, card.num_classes)
        if key in widths:
            continue
        try:  # shapes only: the meta device runs the forward pass without computing it
            out = module.eval()(torch.empty(1, card.input.channels, *card.input.size, device="meta"))
        except (RuntimeError, NotImplementedError):
            widths[key] = False  # an operator without a meta kernel; the layout above still holds
            continue
        assert out.shape == (1, card.num_classes), card.id
        widths[key] = True
    assert sum(widths.values()) >= len(widths) // 2


@pytest.mark.slow  # a fresh interpreter imports torch, timm and the zoo: ~7 s of CPU
def test_the_zoo_imported_first_inside_a_meta_build_keeps_real_module_level_tensors() -> None:
    script = (
        "import torch\n"
        "from securitynet.zoo.archs import robustbench_zoo as zoo\n"
        "with torch.device('meta'):\n"
        "    zoo.zoo_entries()\n"
        "from torchdiffeq._impl.dopri5 import _DORMAND_PRINCE_SHAMPINE_TABLEAU as tableau\n"
        "assert tableau.alpha.device.type == 'cpu', tableau.alpha.device\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_models_that_cannot_be_built_here_say_why() -> None:
    unbuilt = _cards(lambda layout: layout["recorded_on"] is None)
    assert unbuilt  # composite models call .cuda() while building
    for card in unbuilt:
        assert "build_error" in card.extra["robustbench"]["layout"]
        assert "did not build" in card.notes


# --- checkpoints -----------------------------------------------------------------------------------------


def _small_card(card_id: str) -> tuple[ModelCard, torch.nn.Module]:
    card = source.cards_by_id()[card_id]
    torch.manual_seed(0)
    return card, build_module(card).eval()


def _assert_same_weights(loaded: torch.nn.Module, original: torch.nn.Module) -> None:
    mine, theirs = loaded.state_dict(), original.state_dict()
    assert set(mine) == set(theirs)
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)


def test_a_dataparallel_checkpoint_under_state_dict_loads(tmp_path: Path) -> None:
    card, original = _small_card("robustbench/cifar10/L2/Rice2020Overfitting")
    checkpoint = {"state_dict": {f"module.{key}": value for key, value in original.state_dict().items()},
                  "epoch": 200, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}
    path = tmp_path / card.weights.filename
    torch.save(checkpoint, path)
    target = load_target(card, weights_path=path, device="cpu")
    _assert_same_weights(target.module, original)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(target.module(x), original(x))


def test_the_last_state_of_a_last_and_best_checkpoint_is_loaded(tmp_path: Path) -> None:
    card, original = _small_card("robustbench/cifar10/corruptions/Kireev2021Effectiveness_RLAT")
    assert card.weights.inner_key == "last"
    best = {key: value + 1 if value.is_floating_point() else value for key, value in original.state_dict().items()}
    path = tmp_path / card.weights.filename
    torch.save({"last": {"state_dict": original.state_dict()}, "best": {"state_dict": best}}, path)
    _assert_same_weights(load_target(card, weights_path=path, device="cpu").module, original)


def test_an_imagenet_checkpoint_without_the_normaliser_gets_the_models_own(tmp_path: Path) -> None:
    card, original = _small_card("robustbench/imagenet/Linf/Salman2020Do_R18")
    classifier = {key.removeprefix("model."): value for key, value in original.state_dict().items()
                  if key.startswith("model.")}
    assert len(classifier) < len(original.state_dict())  # normalize.mean / normalize.std are not in the file
    path = tmp_path / card.weights.filename
    torch.save({"state_dict": {f"module.{key}": value for key, value in classifier.items()}}, path)
    _assert_same_weights(load_target(card, weights_path=path, device="cpu").module, original)


def test_a_timm_hosted_checkpoint_of_the_classifier_loads_into_robustbenchs_normalised_model(tmp_path: Path) -> None:
    card, original = _small_card("robustbench/imagenet/corruptions/Tian2022Deeper_DeiT-S")
    assert card.extra["robustbench"]["timm"] and isinstance(original, torch.nn.Sequential)
    path = tmp_path / card.weights.filename
    torch.save(original.model.state_dict(), path)  # what timm loads: the classifier, before RobustBench wraps it
    _assert_same_weights(load_target(card, weights_path=path, device="cpu").module, original)


def test_a_checkpoint_of_another_architecture_is_refused_in_one_line(tmp_path: Path) -> None:
    card, _ = _small_card("robustbench/cifar10/L2/Rice2020Overfitting")
    _, other = _small_card("robustbench/cifar100/Linf/Rice2020Overfitting")  # 100 classes
    path = tmp_path / card.weights.filename
    torch.save(other.state_dict(), path)
    with pytest.raises(WeightsError, match="do not fit architecture robustbench") as caught:
        load_target(card, weights_path=path, device="cpu")
    assert "\n" not in str(caught.value)


def test_fetched_weights_are_verified_from_the_mirror_and_a_flipped_byte_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, original = _small_card("robustbench/cifar10/corruptions/Hendrycks2020AugMix_WRN")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    path = mirror / card.weights.filename
    torch.save({"state_dict": original.state_dict()}, path)
    monkeypatch.setenv("SECURITYNET_MIRROR", str(mirror))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")
    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    known = card.model_copy(update={"weights": card.weights.model_copy(update={"sha256": sha256_file(path)})})
    assert fetch_weights(known, progress=False) == path
    _assert_same_weights(load_target(known, device="cpu").module, original)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_target(known, device="cpu")
