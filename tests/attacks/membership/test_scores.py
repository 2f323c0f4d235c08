"""The suite's formulas against direct evaluations: metric scores, LiRA, RMIA, thresholds, the ROC artifact."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from securitynet.attacks.membership import lira, rmia
from securitynet.attacks.membership import thresholds as th
from securitynet.attacks.membership.learned import attack_features
from securitynet.attacks.membership.metric_attacks import (
    SCORES,
    confidence,
    cross_entropy_loss,
    entropy,
    modified_entropy,
)
from securitynet.attacks.membership.metrics import (
    accuracy_at_threshold,
    downsample_roc,
    membership_metrics,
    roc_points,
    tpr_at_fpr,
)


@pytest.fixture
def posteriors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.full(10, 0.3), size=400)
    labels = rng.integers(0, 10, size=400)
    return probs, labels


def test_metric_scores_match_their_formulas(posteriors) -> None:
    probs, labels = posteriors
    for i in range(len(probs)):  # one record at a time, straight from the definitions
        p, y = probs[i], labels[i]
        others = [j for j in range(10) if j != y]
        assert confidence(probs, labels)[i] == pytest.approx(p[y], rel=1e-12)
        assert entropy(probs)[i] == pytest.approx(-sum(q * np.log(q) for q in p), rel=1e-9)
        mentr = -(1 - p[y]) * np.log(p[y]) - sum(p[j] * np.log(1 - p[j]) for j in others)
        assert modified_entropy(probs, labels)[i] == pytest.approx(mentr, rel=1e-9)
        assert cross_entropy_loss(probs, labels)[i] == pytest.approx(-np.log(p[y]), rel=1e-9)
        assert lira.logit_confidence(probs, labels)[i] == pytest.approx(np.log(p[y] / (1 - p[y])), rel=1e-9, abs=1e-9)
    # higher means member: the attack scores are the signs that make that true
    np.testing.assert_allclose(SCORES["entropy"](probs, labels), -entropy(probs))
    np.testing.assert_allclose(SCORES["modified_entropy"](probs, labels), -modified_entropy(probs, labels))
    np.testing.assert_allclose(SCORES["loss"](probs, labels), -cross_entropy_loss(probs, labels))


def test_loss_and_phi_keep_resolution_where_the_true_class_rounds_to_one() -> None:
    # float32 softmax of increasingly confident logits: p_y is 1.0f for all three, the rest is not 0
    logits = np.array([[20.0, 0, 0], [25.0, 0, 0], [30.0, 0, 0]], dtype=np.float32)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    labels = np.zeros(3, dtype=int)
    assert (probs[:, 0] == 1.0).all()
    loss = cross_entropy_loss(probs, labels)
    phi = lira.logit_confidence(probs, labels)
    assert (np.diff(loss) < 0).all() and (loss > 0).all()
    exact_phi = logits[:, 0] - np.log(2.0)  # log(p_y / (1 - p_y)) = z_y - log(sum_{i != y} e^{z_i})
    np.testing.assert_allclose(phi, exact_phi, rtol=1e-4)


def test_lira_scores_match_gaussian_likelihoods() -> None:
    rng = np.random.default_rng(3)
    models, records = 12, 40
    ref_phi = rng.normal(size=(models, records)) * rng.uniform(0.5, 2, records) + rng.normal(size=records)
    ref_in = np.zeros((models, records), bool)
    for r in range(records):  # balanced: half of the models IN for every record
        ref_in[rng.permutation(models)[: models // 2], r] = True
    target = rng.normal(size=records)
    online = lira.lira_online_scores(target, ref_phi, ref_in, "per_example")
    offline = lira.lira_offline_scores(target, ref_phi, ~ref_in, "per_example")
    for r in range(records):
        a_in, a_out = ref_phi[ref_in[:, r], r], ref_phi[~ref_in[:, r], r]
        expected = norm.logpdf(target[r], a_in.mean(), a_in.std(ddof=1)) - norm.logpdf(
            target[r], a_out.mean(), a_out.std(ddof=1))
        assert online[r] == pytest.approx(expected, rel=1e-9)
        assert offline[r] == pytest.approx((target[r] - a_out.mean()) / a_out.std(ddof=1), rel=1e-9)
    # global variance: the pooled within-record standard deviation of each side
    fixed = lira.lira_offline_scores(target, ref_phi, ~ref_in, "global")
    residuals = np.concatenate([ref_phi[~ref_in[:, r], r] - ref_phi[~ref_in[:, r], r].mean() for r in range(records)])
    pooled = np.sqrt((residuals**2).sum() / (residuals.size - records))
    np.testing.assert_allclose(fixed, (target - np.array([ref_phi[~ref_in[:, r], r].mean()
                                                          for r in range(records)])) / pooled, rtol=1e-9)


def test_rmia_scores_match_pairwise_likelihood_ratios() -> None:
    rng = np.random.default_rng(5)
    ref_px, ref_pz = rng.uniform(0.05, 1, (6, 30)), rng.uniform(0.05, 1, (6, 50))
    in_x, in_z = rng.random((6, 30)) < 0.5, rng.random((6, 50)) < 0.5
    in_x[0], in_z[0] = True, False  # every record keeps at least one IN and one OUT model
    in_x[1], in_z[1] = False, True
    tx, tz = rng.uniform(0.05, 1, 30), rng.uniform(0.05, 1, 50)
    a, gamma = 0.3, 1.2
    for online in (True, False):
        mx = rmia.marginal_probability(ref_px, in_x, online=online, a=a)
        mz = rmia.marginal_probability(ref_pz, in_z, online=online, a=a)
        for r in range(30):
            out_mean = ref_px[~in_x[:, r], r].mean()
            expected = (0.5 * (ref_px[in_x[:, r], r].mean() + out_mean) if online
                        else 0.5 * ((1 + a) * out_mean + (1 - a)))
            assert mx[r] == pytest.approx(expected, rel=1e-12)
        scores = rmia.rmia_scores(tx, mx, tz, mz, gamma)
        brute = [np.mean([(tx[i] / mx[i]) / (tz[j] / mz[j]) >= gamma for j in range(50)]) for i in range(30)]
        np.testing.assert_allclose(scores, brute)


def test_best_threshold_is_the_best_balanced_accuracy_on_attacker_data() -> None:
    rng = np.random.default_rng(11)
    member = rng.random(300) < 0.4  # unbalanced on purpose: balanced accuracy, not accuracy, is maximised
    scores = np.round(rng.normal(size=300) + member, 1)
    t = th.best_threshold(scores, member)

    def balanced(threshold: float) -> float:
        called = scores >= threshold
        return (called[member].mean() + (~called[~member]).mean()) / 2

    best = max(balanced(c) for c in np.unique(scores))
    assert balanced(t) == pytest.approx(best, abs=1e-12)
    assert t not in set(scores)  # halfway between two attacker scores, not on one
    assert accuracy_at_threshold(member, th.decide(scores, t)) == pytest.approx(best, abs=1e-12)
    assert th.best_threshold([0.1, 0.2, 0.3, 0.4], [True, True, False, False]) == np.inf
    with pytest.raises(ValueError, match="both members and non-members"):
        th.best_threshold([0.1, 0.2], [True, True])


def test_class_thresholds_fall_back_to_the_global_one_for_sparse_classes() -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], [200, 200, 4])
    member = rng.random(len(labels)) < 0.5
    shift = np.where(labels == 1, 3.0, 0.0)  # class 1's scores live on another scale
    scores = rng.normal(size=len(labels)) + member + shift
    per_class = th.class_thresholds(scores, member, labels, 3)
    overall = th.best_threshold(scores, member)
    assert per_class[2] == overall and per_class[1] > per_class[0] + 1.5
    decisions = th.decide(scores, per_class, labels)
    assert accuracy_at_threshold(member, decisions) > accuracy_at_threshold(member, th.decide(scores, overall))
    with pytest.raises(ValueError, match="class label"):
        th.decide(scores, per_class)


def test_roc_artifact_is_downsampled_but_keeps_the_low_fpr_numbers() -> None:
    rng = np.random.default_rng(0)
    member = np.repeat([True, False], 20000)
    scores = rng.normal(size=40000) + 0.7 * member
    full = roc_points(scores, member, max_points=None)
    kept = roc_points(scores, member, max_points=500)
    assert len(full["fpr"]) > 2000 and len(kept["fpr"]) <= 502
    metrics = membership_metrics(scores, member)
    for name, bound in (("tpr_at_1pct_fpr", 0.01), ("tpr_at_0.1pct_fpr", 0.001)):
        assert tpr_at_fpr(kept["fpr"], kept["tpr"], bound) == metrics[name]
    assert np.trapezoid(kept["tpr"], kept["fpr"]) == pytest.approx(metrics["auc"], abs=2e-3)
    # only real vertices of the full curve, in order, endpoints included
    positions = downsample_roc(full["fpr"], full["tpr"], 500)
    np.testing.assert_array_equal(kept["thresholds"], full["thresholds"][positions])
    assert positions[0] == 0 and positions[-1] == len(full["fpr"]) - 1
    small = roc_points([0.9, 0.1, 0.8, 0.3], [True, False, True, False])
    assert small["fpr"][0] == 0 and small["tpr"][-1] == 1


def test_attack_features(posteriors) -> None:
    probs, labels = posteriors
    top3 = attack_features(probs, labels, "top3", "raw")
    np.testing.assert_allclose(top3, -np.sort(-probs, axis=1)[:, :3])
    full = attack_features(probs, labels, "sorted", "log")
    assert full.shape == (400, 10) and (np.diff(full, axis=1) <= 0).all()
    with_label = attack_features(probs, labels, "label", "raw")
    np.testing.assert_allclose(with_label[:, :10], probs)
    assert (with_label[:, 10:].argmax(1) == labels).all() and with_label[:, 10:].sum() == 400
