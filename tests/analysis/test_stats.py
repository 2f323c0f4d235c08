"""Statistics: correlations against scipy, missing stays missing, published/measured never pooled."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from securitynet.analysis.declarations import AttackDeclarations, declarations_of
from securitynet.analysis.frames import load_analysis_data, variant_labels
from securitynet.analysis.per_model import aggregate, covariates
from securitynet.analysis.stats import (
    backdoor_detection,
    correlate,
    membership_vs_overfit_gap,
    metadata_correlations,
    metric_distributions,
    public_vs_selftrained,
)


def test_correlate_matches_scipy_and_interval_contains_estimate() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.6 * x + rng.normal(scale=0.8, size=40)
    result = correlate(x, y, n_boot=500)
    assert result.n == 40
    assert result.pearson_r == pytest.approx(sps.pearsonr(x, y).statistic)
    assert result.pearson_p == pytest.approx(sps.pearsonr(x, y).pvalue)
    assert result.spearman_rho == pytest.approx(sps.spearmanr(x, y).statistic)
    assert result.pearson_ci_low < result.pearson_r < result.pearson_ci_high
    assert result.spearman_ci_low < result.spearman_rho < result.spearman_ci_high
    assert correlate(x, y, n_boot=500) == result  # seeded: the same report twice


def test_correlate_drops_nan_pairs_and_refuses_too_few_or_constant() -> None:
    result = correlate([1, 2, np.nan, 4, 5], [2, 4, 6, np.nan, 9], n_boot=100)
    assert result.n == 3
    too_few = correlate([1, 2], [3, 4])
    assert math.isnan(too_few.spearman_rho) and "at least 3" in too_few.note
    constant = correlate([1, 1, 1, 1], [1, 2, 3, 4])
    assert math.isnan(constant.pearson_r) and "constant" in constant.note


def test_variant_labels_name_only_what_differs() -> None:
    labels = variant_labels({"a": {"surrogate": "wrn", "n": 5}, "b": {"surrogate": "resnet", "n": 5}})
    assert labels == {"a": "surrogate=wrn", "b": "surrogate=resnet"}
    assert variant_labels({"a": {"n": 5}}) == {"a": ""}


@pytest.fixture
def frames(results_store):
    data = load_analysis_data(results_store)
    agg = aggregate(data.results)
    return data, agg, covariates(data, agg)


def test_seeds_are_averaged_and_missing_values_stay_missing(frames) -> None:
    _, agg, _ = frames
    auc = agg[(agg.model_id == "test/m2") & (agg.attack == "mia.correctness") & (agg.metric == "auc")].iloc[0]
    assert auc.value == pytest.approx(0.5 + 0.06 / 2 + 0.0005)
    assert auc.n_seeds == 2 and auc.seeds == "0,1"
    missing = agg[(agg.model_id == "test/m4") & (agg.attack == "mia.loss")].iloc[0]
    assert math.isnan(missing.value) and missing.missing_reason == "attack failed to converge"


def test_covariates_prefer_measured_annotation_and_say_so(frames) -> None:
    _, _, cov = frames
    m1 = cov.set_index("model_id").loc["test/m1"]
    assert m1.test_accuracy == pytest.approx(0.92) and m1.test_accuracy_source == "measured"
    alone = cov.set_index("model_id").loc["securitynet/cifar10/resnet20"]
    assert alone.test_accuracy == pytest.approx(0.92) and alone.test_accuracy_source == "published"
    assert math.isnan(alone.overfit_gap) and pd.isna(alone.overfit_gap_source)


def test_membership_auc_vs_gap_is_computed_per_attack_and_origin(frames) -> None:
    _, agg, cov = frames
    table = membership_vs_overfit_gap(agg, cov, n_boot=200)
    measured = table[table.origin == "measured"].set_index("attack")
    assert measured.loc["mia.correctness", "spearman_rho"] == pytest.approx(1.0)
    assert measured.loc["mia.correctness", "n"] == 6
    assert measured.loc["mia.loss", "n"] == 5  # the missing AUC is left out, not counted as 0
    published = table[table.origin != "measured"]
    assert (published.n < 3).all() and published.spearman_rho.isna().all()
    assert table.origin.iloc[0] == "measured"


def test_metadata_correlations_cover_numeric_and_categorical_covariates(frames) -> None:
    _, agg, cov = frames
    table = metadata_correlations(agg, cov, n_boot=200)
    row = table[(table.scope == "all") & (table.attack == "mia.correctness") & (table.metric == "auc")
                & (table.origin == "measured")]
    gap = row[row.covariate == "overfit_gap"].iloc[0]
    assert gap.spearman_rho == pytest.approx(1.0) and gap.covariate_source == "measured (6)"
    purpose = row[row.covariate == "purpose"]
    assert set(purpose.level) == {"benchmark", "self-trained"}
    assert purpose.kruskal_p.notna().all()
    size = row[row.covariate == "train_size"].iloc[0]
    assert size.spearman_rho == pytest.approx(1.0)  # train size grows with the gap in the fixture
    assert {"all", "dataset=digits"} <= set(table.scope)


def test_public_vs_selftrained_compares_means_with_interval(frames) -> None:
    _, agg, cov = frames
    table = public_vs_selftrained(agg, cov, n_boot=300)
    row = table[(table.scope == "all") & (table.attack == "mia.correctness") & (table.metric == "auc")].iloc[0]
    public = [0.5 + gap_of / 2 + 0.0005 for gap_of in (0.03, 0.09, 0.15)]
    selftrained = [0.5 + gap_of / 2 + 0.0005 for gap_of in (0.0, 0.06, 0.12)]
    assert (row.n_public, row.n_selftrained) == (3, 3)
    assert row.difference == pytest.approx(np.mean(public) - np.mean(selftrained))
    assert row.ci_low <= row.difference <= row.ci_high
    assert row.mannwhitney_p == pytest.approx(sps.mannwhitneyu(public, selftrained).pvalue)


def test_backdoor_auroc_is_recomputed_from_per_model_scores(frames) -> None:
    data, agg, cov = frames
    table = backdoor_detection(agg, cov, data.attacks)
    row = table.iloc[0]
    scores = [3.0, 4.0, 5.0, 0.5 + 0.6, 0.5 + 0.8, 0.5 + 1.0]
    assert row.model_auroc == pytest.approx(roc_auc_score([1, 1, 1, 0, 0, 0], scores))
    assert (row.n_clean, row.n_backdoored) == (3, 3)


def test_distributions_count_missing_separately(frames) -> None:
    _, agg, cov = frames
    table = metric_distributions(agg, cov)
    loss = table[(table.grouping == "all") & (table.attack == "mia.loss")].iloc[0]
    assert loss.n == 5 and loss.n_missing == 1
    by_family = table[(table.grouping == "family") & (table.attack == "mia.loss")]
    assert set(by_family.group) == {"mlp", "cnn"}
    assert isinstance(table, pd.DataFrame)


def test_bootstrap_ranks_equal_scipy_rankdata_with_ties() -> None:
    from securitynet.analysis.stats import _bootstrap_ranks

    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, size=30).astype(float)  # many ties
    index = rng.integers(0, 30, size=(50, 30))
    assert np.allclose(_bootstrap_ranks(values, index), sps.rankdata(values[index], axis=1))


def test_backdoor_metrics_that_are_not_scores_get_no_auroc() -> None:
    rows = []
    for i, (backdoored, target) in enumerate([(True, 1), (True, 7), (False, 3), (False, 0)]):
        for metric, value in (("score", 2.0 + i if backdoored else 0.5), ("suspected_target", target)):
            rows.append({"origin": "measured", "attack": "backdoor.neural_cleanse", "attack_family": "backdoor",
                         "variant": "default", "metric": metric, "value": float(value), "model_id": f"m{i}"})
    agg = pd.DataFrame(rows)
    cov = pd.DataFrame({"model_id": [f"m{i}" for i in range(4)], "backdoored": [True, True, False, False]})
    undeclared = backdoor_detection(agg, cov, AttackDeclarations({})).set_index("metric")
    assert undeclared.loc["score", "model_auroc"] == pytest.approx(1.0)
    assert "not declared in the store" in undeclared.loc["score", "note"]
    declared = declarations_of([{"name": "backdoor.neural_cleanse", "family": "backdoor", "score_metrics": ["score"],
                                 "score_direction": "higher-is-backdoored"}])
    table = backdoor_detection(agg, cov, declared).set_index("metric")
    assert pd.isna(table.loc["score", "note"])
    assert table.loc["score", "model_auroc"] == pytest.approx(1.0)
    assert np.isnan(table.loc["suspected_target", "model_auroc"])
    assert "not a score" in table.loc["suspected_target", "note"]
    assert table.loc["suspected_target", "mean_backdoored"] == pytest.approx(4.0)
    lower = declarations_of([{"name": "backdoor.neural_cleanse", "family": "backdoor", "score_metrics": ["score"],
                              "score_direction": "lower-is-backdoored"}])
    assert backdoor_detection(agg, cov, lower).set_index("metric").loc["score", "model_auroc"] == pytest.approx(0.0)


def test_kruskal_is_missing_without_warnings_when_every_value_is_equal() -> None:
    import warnings

    from securitynet.analysis.stats import _categorical_rows

    part = pd.DataFrame({"value": [0.5, 0.5, 0.5, 0.5], "family": ["mlp", "mlp", "cnn", "cnn"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = _categorical_rows({"attack": "mia.x"}, part, "family", n_boot=50)
    assert len(rows) == 2 and all(np.isnan(r["kruskal_h"]) and np.isnan(r["kruskal_p"]) for r in rows)
    varied = pd.DataFrame({"value": [0.5, 0.6, 0.7, 0.9], "family": ["mlp", "mlp", "cnn", "cnn"]})
    assert all(np.isfinite(r["kruskal_p"]) for r in _categorical_rows({}, varied, "family", n_boot=50))


def test_headline_metric_is_the_declared_one_and_the_old_order_only_for_undeclared_attacks() -> None:
    attacks = declarations_of([{"name": "backdoor.x", "family": "backdoor", "headline_metrics": ["flagged", "score"],
                                "score_metrics": ["score", "index"], "score_direction": "higher-is-backdoored"}])
    declared = attacks.info("backdoor.x")
    assert declared.headline_metric({"flagged", "score", "auc"}) == "score"  # the first headline that is a score
    assert declared.headline_metric({"flagged", "auc"}) == "flagged"
    assert declared.headline_metric({"index", "auc"}) == "index"
    assert declared.headline_metric({"auc"}) is None
    undeclared = attacks.info("backdoor.y")
    assert not undeclared.declared and undeclared.family == "backdoor"
    assert undeclared.headline_metric({"score", "anomaly_index"}) == "anomaly_index"
    assert attacks.undeclared(["backdoor.x", "backdoor.y", "mia.z"]) == ["backdoor.y", "mia.z"]
