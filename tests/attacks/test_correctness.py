"""The prediction-correctness baseline and the membership metrics it reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from securitynet.attacks import get_attack
from securitynet.attacks.membership.metrics import membership_metrics, roc_points
from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.engine.access import view_for
from securitynet.engine.cache import PosteriorCache
from securitynet.engine.context import JobContext
from securitynet.zoo.target import TargetModel


def _brute_force(scores: np.ndarray, is_member: np.ndarray) -> dict[str, float]:
    """The metric definitions evaluated directly: every threshold, every member/non-member pair."""
    members, nonmembers = scores[is_member], scores[~is_member]
    diff = members[:, None] - nonmembers[None, :]
    auc = float(((diff > 0) + 0.5 * (diff == 0)).mean())
    points = [(0.0, 0.0)]
    for t in np.unique(scores):
        points.append((float((nonmembers >= t).mean()), float((members >= t).mean())))
    fpr, tpr = np.array(points).T
    return {
        "auc": auc,
        "balanced_accuracy": float(np.max((tpr + 1 - fpr) / 2)),
        "tpr_at_1pct_fpr": float(tpr[fpr <= 0.01].max()),
        "tpr_at_0.1pct_fpr": float(tpr[fpr <= 0.001].max()),
    }


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_match_their_definitions(ties: bool) -> None:
    rng = np.random.default_rng(1)
    is_member = np.repeat([True, False], 1500)
    scores = rng.normal(size=3000) + 0.8 * is_member
    if ties:
        scores = np.round(scores, 1)
    got = membership_metrics(scores, is_member)
    expected = _brute_force(scores, is_member)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name
    assert 0.0 < got["tpr_at_0.1pct_fpr"] <= got["tpr_at_1pct_fpr"] < got["balanced_accuracy"] * 2


def test_metrics_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="both members and non-members"):
        membership_metrics([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="not finite"):
        membership_metrics([np.nan, 0.2], [True, False])
    with pytest.raises(ValueError, match="3 scores for 2"):
        membership_metrics([0.1, 0.2, 0.3], [True, False])
    curve = roc_points([0.9, 0.1, 0.8, 0.3], [True, False, True, False])
    assert curve["tpr"][-1] == 1.0 and curve["fpr"][0] == 0.0


class _Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@pytest.fixture(scope="module")
def overfitted_digits_target() -> TargetModel:
    """An MLP trained hard on digits 'train': clearly better on members than on non-members."""
    from securitynet.data import load_split

    train = load_split("digits", "train")
    torch.manual_seed(0)
    module = _Mlp()
    x = torch.tensor(train.images, dtype=torch.float32) / 255.0
    y = torch.tensor(train.labels)
    optimiser = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(60):
        optimiser.zero_grad()
        F.cross_entropy(module(x), y).backward()
        optimiser.step()
    card = ModelCard(id="test/digits_mlp", name="digits_mlp", source="self-trained", dataset="digits",
                     num_classes=10, input=InputSpec(channels=1, size=(8, 8)))
    return TargetModel(card=card, module=module, weight_hash="sha256:test", device=torch.device("cpu"))


# 898 asks for more than the non-member split leaves once the attacker population (half of it) is kept out:
# both sides then shrink to the same size.
@pytest.mark.parametrize("n", [300, 898])
def test_auc_equals_half_plus_half_the_accuracy_gap(overfitted_digits_target, tmp_path, n) -> None:
    attack_cls = get_attack("mia.correctness")
    assert attack_cls.access == "label"
    ctx = JobContext.standalone(overfitted_digits_target.card, seed=3, access="label", device="cpu",
                                cache=PosteriorCache(tmp_path / "cache"), artifacts_root=tmp_path / "art")
    result = attack_cls({"n": n}).run(view_for(overfitted_digits_target, "label"), ctx)
    metrics = result.metrics
    gap = metrics["member_accuracy"] - metrics["nonmember_accuracy"]
    assert gap > 0.01  # the model does overfit, so the identity is tested on a non-trivial case
    assert abs(metrics["auc"] - (0.5 + gap / 2)) < 1e-9
    # the member accuracy from scratch, from the recorded indices alone
    (used,) = [u for u in ctx.data_used if u["kind"] == "membership"]
    assert len(used["member_indices"]) == len(used["nonmember_indices"]) == used["n"] and 0 < used["n"] <= n
    from securitynet.data import load_split

    pool = load_split("digits", used["member_split"])
    members = pool.subset(pool.positions_of(used["member_indices"]))
    accuracy = float((overfitted_digits_target.predict(members.images) == members.labels).mean())
    assert accuracy == pytest.approx(metrics["member_accuracy"], abs=1e-12)
    assert {"auc", "balanced_accuracy", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr"} <= set(metrics)
    assert metrics["balanced_accuracy"] == pytest.approx(max(0.5, 0.5 + gap / 2), abs=1e-12)
    assert "roc" in result.artifacts
