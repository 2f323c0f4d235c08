"""Weights that do not fit and inputs a model cannot take are reported by name and shape, not by torch's words."""

from __future__ import annotations

import pytest
import torch

from securitynet.catalog.card import InputSpec
from securitynet.catalog.sources import yaml_cards
from securitynet.errors import ShapeError, WeightsError
from securitynet.zoo.loader import describe_misfit, load_target


def _lenet():
    return next(card for card in yaml_cards.iter_cards() if card.id == "file/lenet5_advertorch_clean")


def test_wrong_num_classes_names_the_mismatched_weights_with_their_shapes(mirror) -> None:
    card = _lenet().model_copy(update={"num_classes": 7})
    with pytest.raises(WeightsError) as info:
        load_target(card, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("weights lenet5_advertorch_clean.pt do not fit architecture lenet5_advertorch")
    assert "is (10, 200) in the file but (7, 200) in the model (and 1 more)" in message
    assert message.endswith("(is the card's num_classes right?)")


def test_input_size_the_architecture_refuses_names_the_cards_input_size(mirror) -> None:
    card = _lenet()
    card = card.model_copy(update={"input": card.input.model_copy(update={"size": (32, 32)})})
    with pytest.raises(ShapeError) as info:
        load_target(card, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model file/lenet5_advertorch_clean does not accept the input its card describes "
                              "(input.size [32, 32], input.channels 1): ")
    assert "mat1 and mat2" in message  # torch's reason stays, after what the user can fix


def test_describe_misfit_names_missing_unexpected_and_mismatched_entries() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    state = {"0.weight": torch.zeros(3, 4), "1.weight": torch.zeros(5, 3), "extra.bias": torch.zeros(1)}
    described = describe_misfit(state, module)
    assert described == (
        "1.weight is (5, 3) in the file but (2, 3) in the model; "
        "missing from the file: 0.bias (3,), 1.bias (2,); unexpected in the file: extra.bias (1,) "
        "(is the card's num_classes right?)"
    )
    # non-strict loading allows entries missing from the file
    assert describe_misfit({"0.weight": torch.zeros(3, 4)}, module, strict=False) is None
    assert describe_misfit(dict(module.state_dict()), module) is None


def test_target_with_a_fitting_input_size_builds() -> None:
    from securitynet.catalog.card import ModelCard
    from securitynet.zoo.target import TargetModel

    card = ModelCard(id="test/linear", name="linear", source="file", architecture="x", dataset="digits",
                     num_classes=2, input=InputSpec(channels=1, size=(2, 2)))
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    assert TargetModel(card=card, module=module, device=torch.device("cpu")).id == "test/linear"
    wrong = card.model_copy(update={"input": InputSpec(channels=1, size=(3, 3))})
    with pytest.raises(ShapeError, match=r"^model test/linear does not accept .*input.size \[3, 3\], input.channels 1"):
        TargetModel(card=wrong, module=module, device=torch.device("cpu"))
