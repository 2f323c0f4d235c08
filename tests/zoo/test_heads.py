"""One-unit binary heads: every consumer sees the two-class posteriors [1 - p, p]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.errors import CardError, ShapeError
from securitynet.zoo.heads import log_posteriors, output_width, posteriors
from securitynet.zoo.output_check import output_problem
from securitynet.zoo.target import TargetModel


def test_a_binary_logit_becomes_sigmoid_posteriors_even_far_from_zero() -> None:
    z = torch.tensor([[-40.0], [-2.0], [0.0], [3.0], [40.0]])
    probs = posteriors(z, "binary_logit")
    expected_positive = 1 / (1 + np.exp(-z.numpy()[:, 0].astype(np.float64)))
    np.testing.assert_allclose(probs[:, 1].numpy(), expected_positive, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    assert probs[0, 0] == 1.0 and probs[4, 0] > 0  # sigmoid(-40) is tiny but not rounded to zero
    np.testing.assert_allclose(log_posteriors(z, "binary_logit").exp().numpy(), probs.numpy(), rtol=1e-5)


def test_a_binary_probability_is_the_positive_class_and_accepts_a_flat_output() -> None:
    p = torch.tensor([0.0, 0.25, 1.0])
    np.testing.assert_allclose(posteriors(p, "binary_probability").numpy(), [[1, 0], [0.75, 0.25], [0, 1]])
    np.testing.assert_allclose(posteriors(p[:, None], "binary_probability").numpy(),
                               posteriors(p, "binary_probability").numpy())
    assert (output_width("binary_probability", 2), output_width("logits", 7)) == (1, 7)


def test_log_posteriors_of_a_binary_logit_carry_gradients() -> None:
    z = torch.tensor([[0.5], [-1.0]], requires_grad=True)
    log_posteriors(z, "binary_logit")[:, 1].sum().backward()
    np.testing.assert_allclose(z.grad.numpy()[:, 0], 1 - torch.sigmoid(z.detach()).numpy()[:, 0], rtol=1e-6)


def test_a_binary_head_with_several_units_is_refused() -> None:
    with pytest.raises(ShapeError, match="one output unit"):
        posteriors(torch.zeros(3, 2), "binary_logit")


def _card(**fields) -> ModelCard:
    return ModelCard(id="test/binary", name="binary", source="file", dataset="breastmnist",
                     input=InputSpec(channels=1, size=(4, 4)), **fields)


def test_a_binary_kind_means_two_classes() -> None:
    assert _card(output_kind="binary_logit").num_classes == 2
    with pytest.raises(CardError, match="num_classes is 3"):
        ModelCard.from_dict(_card(output_kind="binary_logit").to_dict() | {"num_classes": 3})


def test_a_one_unit_target_answers_two_class_posteriors() -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    target = TargetModel(card=_card(output_kind="binary_logit"), module=module, device=torch.device("cpu"))
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
    probs = target.predict_proba(images)
    assert probs.shape == (5, 2)
    with torch.no_grad():
        logit = module(target.preprocess(images))[:, 0]
    np.testing.assert_allclose(probs[:, 1], torch.sigmoid(logit).numpy(), rtol=1e-6)
    assert target.predict(images).tolist() == (logit > 0).long().tolist()


@pytest.mark.parametrize(
    ("outputs", "kind", "expected"),
    [
        (torch.tensor([[-3.0], [4.0]]), "binary_logit", None),
        (torch.tensor([[0.0], [1.0]]), "binary_probability", None),
        (torch.tensor([[0.2, 0.8]]), "binary_logit", "output_kind binary_logit declares one output unit"),
        (torch.tensor([[-3.0], [4.0]]), "binary_probability", "declared binary probabilities are outside [0, 1]"),
        (torch.tensor([[float("nan")]]), "binary_logit", "outputs are not finite"),
    ],
)
def test_the_output_guard_checks_binary_heads(outputs, kind, expected) -> None:
    problem = output_problem(outputs, kind, 2)
    assert problem == expected if expected is None else problem.startswith(expected)
