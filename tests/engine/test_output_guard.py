"""The output guard: a target whose outputs cannot be trusted fails its jobs with one line, caches nothing, stores
no metric; the other models' numbers are untouched."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
import torch

import securitynet
from securitynet.engine.cache import PosteriorCache
from securitynet.errors import OutputCheckError
from securitynet.store import schema
from securitynet.zoo.loader import load_target
from securitynet.zoo.output_check import output_problem


def _stored_results(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.results)).scalar()


def test_nan_model_fails_every_attack_and_caches_nothing(store, tiny_cards, engine_env) -> None:
    from securitynet_test_models import make_tiny_card

    bad = make_tiny_card(engine_env["mirror"], 11, architecture="nan_outputs")
    frame = securitynet.evaluate([bad], "mia.correctness,mia.loss", store=store, seeds=[0])
    assert frame.empty and len(frame.attrs["failed"]) == 2
    jobs = store.jobs_frame()
    assert set(jobs.status) == {"failed"}
    for error in jobs.error:
        assert "\n" not in error
        assert error.startswith("OutputCheckError: model test/tiny_11: outputs are not finite (")
        assert " NaN of " in error and "lr" not in error
    assert _stored_results(store) == 0
    assert not list(engine_env["cache"].rglob("*.npy"))  # no posterior on disk


def test_logits_declared_as_probabilities_fail_instead_of_being_renormalised(store, tiny_cards, engine_env) -> None:
    misdeclared = tiny_cards[2].model_copy(update={"id": "test/tiny_2_as_probabilities",
                                                   "output_kind": "probabilities"})
    frame = securitynet.evaluate([tiny_cards[2], misdeclared], "mia.correctness", store=store, seeds=[0])
    jobs = store.jobs_frame().set_index("model_id")
    assert jobs.loc[tiny_cards[2].id, "status"] == "done"
    error = jobs.loc[misdeclared.id, "error"]
    assert jobs.loc[misdeclared.id, "status"] == "failed"
    assert "model test/tiny_2_as_probabilities: declared probabilities are outside [0, 1]" in error
    assert "output_kind: logits" in error
    assert set(frame.model_id) == {tiny_cards[2].id}


def test_memory_cache_holds_nothing_of_a_failed_model(tiny_cards, engine_env, digits_train) -> None:
    from securitynet_test_models import make_tiny_card

    bad = make_tiny_card(engine_env["mirror"], 12, architecture="nan_outputs")
    target = load_target(bad, device="cpu")
    cache = PosteriorCache(engine_env["cache"])
    with pytest.raises(OutputCheckError, match=r"^model test/tiny_12: outputs are not finite \(\d+ NaN of \d+ values"):
        cache.get(target, digits_train)
    assert cache.stats.rows_computed == 0 and not cache._memory
    assert not list(engine_env["cache"].rglob("*.npy"))


def test_cached_nan_posteriors_from_an_older_release_are_not_served(tiny_cards, engine_env, digits_train) -> None:
    target = load_target(tiny_cards[1], device="cpu")
    cache = PosteriorCache(engine_env["cache"])
    good = cache.get(target, digits_train)
    (path,) = engine_env["cache"].rglob("*.npy")
    poisoned = good.copy()
    poisoned[0, 0] = np.nan
    np.save(path, poisoned)
    fresh = PosteriorCache(engine_env["cache"])
    np.testing.assert_array_equal(fresh.get(target, digits_train), good)
    assert fresh.stats.disk_hits == 0 and fresh.stats.misses == 1


@pytest.mark.parametrize(
    ("outputs", "kind", "expected"),
    [
        (torch.tensor([[0.2, 0.8], [0.5, 0.5]]), "probabilities", None),
        (torch.tensor([[0.2, 0.8], [0.5, 0.4]]), "probabilities", "declared probabilities do not sum to 1"),
        (torch.tensor([[2.0, -1.0], [0.5, 0.5]]), "probabilities", "declared probabilities are outside [0, 1]"),
        (torch.tensor([[2.0, -1.0]]), "logits", None),
        (torch.tensor([[float("inf"), 0.0]]), "logits", "outputs are not finite (1 infinite of 2 values"),
        (torch.tensor([[0.1, 0.2, 0.3]]), "logits", "output width is not the card's num_classes (3 columns"),
        (torch.log(torch.tensor([[0.3, 0.7]])), "log_probabilities", None),
        (torch.tensor([[1.5, -0.2]]), "log_probabilities", "declared log-probabilities are above 0 (up to 1.5)"),
        (torch.tensor([[-3.0, -4.0]]), "log_probabilities", "declared log-probabilities do not sum to 1"),
        (torch.tensor([0.5, 0.5]), "logits", "outputs are not one row per image"),
    ],
)
def test_output_problem_names_the_check_and_what_was_seen(outputs, kind, expected) -> None:
    problem = output_problem(outputs, kind, 2)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(expected)


def test_white_box_view_checks_the_first_batch() -> None:
    from securitynet.attacks.backdoor.common import PixelModel
    from securitynet.catalog.card import InputSpec, ModelCard

    card = ModelCard(id="test/probs", name="p", source="file", architecture="x", dataset="digits", num_classes=2,
                     input=InputSpec(channels=1, size=(2, 2)), output_kind="probabilities")
    model = PixelModel(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), card)
    with torch.no_grad():
        model.module[1].bias.fill_(5.0)
    with pytest.raises(OutputCheckError, match="^model test/probs: declared probabilities are outside"):
        model(torch.rand(3, 1, 2, 2))


def _probability_pixel_model(bias: float):
    from securitynet.attacks.backdoor.common import PixelModel
    from securitynet.catalog.card import InputSpec, ModelCard

    card = ModelCard(id="test/probs", name="p", source="file", architecture="x", dataset="digits", num_classes=3,
                     input=InputSpec(channels=1, size=(4, 4)), output_kind="probabilities")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3), torch.nn.Softmax(dim=1))
    with torch.no_grad():
        module[1].bias.fill_(bias)
    seen: list[torch.dtype] = []
    module[1].register_forward_hook(lambda _m, _i, output: seen.append(output.dtype))
    return PixelModel(module, card), seen


def test_white_box_view_judges_mixed_precision_outputs_in_float32() -> None:
    """Under bfloat16 autocast a model's own softmax misses a sum of 1 by rounding: the guard recomputes the
    first batch in float32 and so passes a sound model, yet still fails one whose outputs are wrong."""
    model, seen = _probability_pixel_model(0.0)
    x = torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 40
    with torch.autocast("cpu", dtype=torch.bfloat16):
        log_probs = model(x)
    assert seen == [torch.bfloat16, torch.float32]  # the pass asked for, then the guard's float32 one
    assert log_probs.dtype == torch.float32 and torch.isfinite(log_probs).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    assert seen[2:] == [torch.bfloat16]  # checked once

    broken, _ = _probability_pixel_model(0.0)
    broken.module[2] = torch.nn.Identity()  # "probabilities" that are raw scores
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(OutputCheckError, match="^model test/probs"):
        broken(x)
