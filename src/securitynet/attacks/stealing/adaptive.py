"""Knockoff Nets' adaptive sampling (Orekondy et al., CVPR 2019): a gradient bandit over groups of the query set.

The attacker's images carry its own coarse labels (the query dataset's classes: GTSRB sign classes, ImageNet
classes, or the target dataset's classes in-distribution). Each group is an arm. A softmax policy over
preferences picks the group of the next query; the image is drawn from that group without replacement, sent
to the target, and rewarded by how useful its answer was:

- ``cert``: the answer's margin between its top two probabilities (confident answers);
- ``div``: how far the answer rises above the mean of the recent answers (new behaviour);
- ``loss``: cross-entropy between the answer and the surrogate's current prediction (what it gets wrong);
- ``all``: the three, each standardised by its running mean and deviation, summed (the paper's choice).

Preferences follow the gradient-bandit update of Sutton and Barto (section 2.8) with the running mean reward
as baseline. The surrogate is trained on the answers collected so far after every round, so the loss reward
tracks what it still gets wrong.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from securitynet.attacks.base import AttackError

RewardKind = Literal["all", "cert", "div", "loss"]
REWARD_KINDS: tuple[str, ...] = ("all", "cert", "div", "loss")


class GradientBandit:
    """Softmax policy over preferences H; arms that ran out of images are never chosen again."""

    def __init__(self, n_arms: int, lr: float) -> None:
        if n_arms < 1:
            raise AttackError("adaptive sampling needs at least one group of query images")
        self.preferences = np.zeros(n_arms)
        self.lr = lr
        self.baseline = 0.0
        self.steps = 0

    def policy(self, available: np.ndarray) -> np.ndarray:
        h = np.where(available, self.preferences, -np.inf)
        h = h - h[available].max()
        p = np.exp(h)
        return p / p.sum()

    def choose(self, available: np.ndarray, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.preferences), p=self.policy(available)))

    def update(self, arm: int, reward: float, available: np.ndarray) -> None:
        self.steps += 1
        self.baseline += (reward - self.baseline) / self.steps
        pi = self.policy(available)
        advantage = reward - self.baseline
        self.preferences -= self.lr * advantage * pi
        self.preferences[arm] += self.lr * advantage  # together: (1 - pi) for the chosen arm, -pi for the rest


class _RunningStats:
    """Welford mean and variance of each reward component over all queries so far."""

    def __init__(self, n: int) -> None:
        self.count = 0
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)

    def add(self, rows: np.ndarray) -> None:
        for row in rows:
            self.count += 1
            delta = row - self.mean
            self.mean += delta / self.count
            self.m2 += delta * (row - self.mean)

    def standardise(self, rows: np.ndarray) -> np.ndarray:
        if self.count < 2:
            return np.clip(rows, 0.0, 1.0)
        std = np.sqrt(self.m2 / (self.count - 1))
        return (rows - self.mean) / np.where(std > 0, std, 1.0)


class KnockoffReward:
    """Per-query rewards of one round of answers, given the surrogate's predictions on the same images."""

    def __init__(self, kind: str, window: int) -> None:
        if kind not in REWARD_KINDS:
            raise AttackError(f"adaptive_reward must be one of {', '.join(REWARD_KINDS)}, got {kind!r}")
        self.kind = kind
        self.recent: deque[np.ndarray] = deque(maxlen=max(1, window))
        self.stats = _RunningStats(3)

    def __call__(self, answers: np.ndarray, surrogate_probs: np.ndarray) -> np.ndarray:
        answers = np.asarray(answers, dtype=np.float64)
        top2 = np.sort(answers, axis=1)[:, -2:] if answers.shape[1] > 1 else np.c_[np.zeros(len(answers)), answers]
        cert = top2[:, 1] - top2[:, 0]
        reference = np.mean(self.recent, axis=0) if self.recent else answers.mean(axis=0)
        div = np.maximum(answers - reference, 0.0).sum(axis=1)
        loss = -(answers * np.log(np.clip(surrogate_probs, 1e-12, 1.0))).sum(axis=1)
        self.recent.extend(answers)
        components = np.stack([cert, div, loss], axis=1)
        if self.kind != "all":
            return components[:, REWARD_KINDS.index(self.kind) - 1]
        self.stats.add(components)
        return self.stats.standardise(components).sum(axis=1)


@dataclass
class AdaptiveResult:
    """Query positions in the order they were asked, their answers, and how the policy moved."""

    order: np.ndarray
    answers: np.ndarray
    arms: np.ndarray
    arm_labels: np.ndarray
    policy_history: list[np.ndarray] = field(default_factory=list)
    reward_history: list[float] = field(default_factory=list)


def adaptive_sample(
    groups: np.ndarray,
    budget: int,
    *,
    query: Callable[[np.ndarray], np.ndarray],
    surrogate_probs: Callable[[np.ndarray], np.ndarray],
    learn: Callable[[np.ndarray, np.ndarray], None],
    rng: np.random.Generator,
    round_size: int = 100,
    lr: float = 0.1,
    reward: str = "all",
) -> AdaptiveResult:
    """Choose ``budget`` pool positions round by round with the bandit; returns them with the target's answers.

    ``groups``: one coarse label per pool image (the arms). ``query(positions)`` returns the target's answers
    (posteriors, or one-hot labels) for those pool images; ``surrogate_probs(positions)`` the surrogate's
    softmax on them; ``learn(positions, answers)`` trains the surrogate on everything collected so far.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise AttackError("adaptive sampling needs one group label per query image (multi-label query sets have none)")
    if round_size < 1:
        raise AttackError(f"adaptive_round must be >= 1, got {round_size}")
    arm_labels, arm_of = np.unique(groups, return_inverse=True)
    # Each arm's images in a random order: drawing from an arm pops the next one (without replacement).
    queues = [list(rng.permutation(np.flatnonzero(arm_of == a))) for a in range(len(arm_labels))]
    left = np.array([len(q) for q in queues])
    budget = min(budget, int(left.sum()))
    bandit = GradientBandit(len(arm_labels), lr)
    rewarder = KnockoffReward(reward, window=round_size)
    order: list[int] = []
    arms: list[int] = []
    answers: list[np.ndarray] = []
    result = AdaptiveResult(np.zeros(0, np.int64), np.zeros((0, 0)), np.zeros(0, np.int64), arm_labels)
    while len(order) < budget:
        round_arms, round_positions = [], []
        for _ in range(min(round_size, budget - len(order))):
            arm = bandit.choose(left > 0, rng)
            round_arms.append(arm)
            round_positions.append(queues[arm].pop())
            left[arm] -= 1
        positions = np.asarray(round_positions, dtype=np.int64)
        round_answers = np.asarray(query(positions))
        rewards = rewarder(round_answers, surrogate_probs(positions))
        for arm, value in zip(round_arms, rewards, strict=True):
            # Arms emptied during the round are still updated, over the arms still open plus this one.
            available = left > 0
            available[arm] = True
            bandit.update(arm, float(value), available)
        order.extend(round_positions)
        arms.extend(round_arms)
        answers.append(round_answers)
        result.policy_history.append(bandit.policy(np.ones(len(arm_labels), bool)))
        result.reward_history.append(float(np.mean(rewards)))
        if len(order) < budget:
            learn(np.asarray(order, dtype=np.int64), np.concatenate(answers))
    result.order = np.asarray(order, dtype=np.int64)
    result.arms = np.asarray(arms, dtype=np.int64)
    result.answers = np.concatenate(answers) if answers else np.zeros((0, 0))
    return result
