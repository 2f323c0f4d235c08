"""Knockoff's adaptive sampling: the gradient bandit, its rewards, and the sampling loop."""

from __future__ import annotations

import numpy as np
import pytest

from securitynet.attacks import AttackError
from securitynet.attacks.stealing.adaptive import GradientBandit, KnockoffReward, adaptive_sample


def test_bandit_learns_the_rewarding_arm() -> None:
    rng = np.random.default_rng(0)
    bandit = GradientBandit(5, lr=0.1)
    available = np.ones(5, bool)
    for _ in range(500):
        arm = bandit.choose(available, rng)
        bandit.update(arm, 1.0 if arm == 3 else 0.0, available)
    policy = bandit.policy(available)
    assert policy.argmax() == 3 and policy[3] > 0.6
    assert policy.sum() == pytest.approx(1.0)


def test_bandit_never_chooses_an_empty_arm() -> None:
    bandit = GradientBandit(3, lr=0.1)
    bandit.preferences[:] = [5.0, 0.0, 0.0]
    available = np.array([False, True, True])
    assert bandit.policy(available)[0] == 0.0
    rng = np.random.default_rng(0)
    assert all(bandit.choose(available, rng) != 0 for _ in range(50))


def test_rewards_follow_their_definitions() -> None:
    answers = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    surrogate = np.array([[0.5, 0.25, 0.25], [0.8, 0.1, 0.1]])
    assert KnockoffReward("cert", 10)(answers, surrogate) == pytest.approx([0.5, 0.0])
    expected_loss = [-(answers[i] * np.log(surrogate[i])).sum() for i in range(2)]
    assert KnockoffReward("loss", 10)(answers, surrogate) == pytest.approx(expected_loss)
    div = KnockoffReward("div", 10)
    mean = answers.mean(axis=0)  # no history yet: the round's own mean
    assert div(answers, surrogate) == pytest.approx(np.maximum(answers - mean, 0).sum(axis=1))
    assert np.isfinite(KnockoffReward("all", 10)(answers, surrogate)).all()
    with pytest.raises(AttackError, match="adaptive_reward"):
        KnockoffReward("entropy", 10)


def test_sampling_prefers_the_group_with_confident_answers_and_draws_without_replacement() -> None:
    groups = np.repeat([0, 1, 2], 500)
    confident = np.eye(3)[0]
    learned: list[int] = []

    def query(positions: np.ndarray) -> np.ndarray:
        # Group 2 gets confident answers, the others uniform ones: the certainty reward favours group 2.
        return np.array([confident if groups[p] == 2 else np.full(3, 1 / 3) for p in positions])

    result = adaptive_sample(
        groups, 300, query=query, surrogate_probs=lambda p: np.full((len(p), 3), 1 / 3),
        learn=lambda positions, answers: learned.append(len(positions)),
        rng=np.random.default_rng(0), round_size=30, lr=0.5, reward="cert",
    )
    assert len(result.order) == 300 and len(np.unique(result.order)) == 300
    assert result.answers.shape == (300, 3)
    assert np.array_equal(groups[result.order], result.arm_labels[result.arms])
    assert learned == list(range(30, 300, 30))  # after every round but the last
    assert np.mean(groups[result.order[150:]] == 2) > 0.6 > np.mean(groups[result.order[:30]] == 2)
    assert result.policy_history[-1][2] > result.policy_history[0][2]


def test_sampling_uses_every_image_once_when_the_budget_exceeds_the_pool() -> None:
    groups = np.array([0, 0, 0, 1])
    result = adaptive_sample(
        groups, 10, query=lambda p: np.full((len(p), 2), 0.5), surrogate_probs=lambda p: np.full((len(p), 2), 0.5),
        learn=lambda *_: None, rng=np.random.default_rng(1), round_size=3,
    )
    assert sorted(result.order.tolist()) == [0, 1, 2, 3]
    with pytest.raises(AttackError, match="one group label per query image"):
        adaptive_sample(np.zeros((4, 2)), 2, query=None, surrogate_probs=None, learn=None,  # type: ignore[arg-type]
                        rng=np.random.default_rng(0))
