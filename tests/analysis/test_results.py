"""analysis.results.results_table: the store's measurements as one row per model x attack variant (x seed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from securitynet.analysis.results import results_table
from securitynet.store import Store

HEADLINE = {"mia.correctness": ("auc", "tpr_at_1pct_fpr"), "mia.loss": ("auc", "tpr_at_1pct_fpr"),
            "stealing.knockoff": ("agreement", "accuracy")}


def test_seeds_mean_is_the_mean_of_seeds_all(results_store: Store) -> None:
    mean = results_table(results_store, ["test/m2"], ["mia.correctness"], headline=HEADLINE)
    every = results_table(results_store, ["test/m2"], ["mia.correctness"], seeds="all", headline=HEADLINE)
    assert list(every.seed) == [0, 1] and mean.n_seeds.item() == 2 and mean.seeds.item() == "0,1"
    assert mean.auc.item() == pytest.approx(every.auc.mean())
    assert every.auc.tolist() == pytest.approx([0.5 + 0.03, 0.5 + 0.03 + 0.001])  # conftest: 0.5 + gap/2 + seed/1000


def test_published_values_sit_beside_the_measured_variant(results_store: Store) -> None:
    frame = results_table(results_store, ["test/m1"], headline=HEADLINE)
    correctness = frame[frame.attack == "mia.correctness"]
    assert correctness.published_auc.item() == pytest.approx(0.55)  # from the published twin securitynet/digits/m1
    stealing = frame[frame.attack == "stealing.knockoff"].set_index("variant")
    assert stealing.at["surrogate=target-arch", "published_agreement"] == pytest.approx(0.85)
    assert stealing.published_agreement.isna().sum() == 1  # the wrn variant has no published value
    annotation = frame[frame.attack == "annotation.accuracy"]
    assert annotation.published_overfit_gap.item() == pytest.approx(0.09)
    assert "securitynet/cifar10/resnet20" not in set(frame.model_id)  # not selected, not anyone's twin


def test_headline_keeps_the_declared_metrics_and_all_metrics_the_rest(results_store: Store) -> None:
    only = results_table(results_store, ["test/m3"], ["mia.*"], headline={"mia.correctness": ("auc",),
                                                                            "mia.loss": ("auc",)})
    assert [c for c in only.columns if c in ("auc", "tpr_at_1pct_fpr")] == ["auc"]
    every = results_table(results_store, ["test/m3"], ["mia.*"], headline=HEADLINE, all_metrics=True)
    assert {"auc", "tpr_at_1pct_fpr"} <= set(every.columns)
    missing = results_table(results_store, ["test/m4"], ["mia.loss"], headline=HEADLINE)
    assert missing.auc.isna().all() and missing.n_seeds.item() == 0  # unmeasured stays NaN, never 0


def test_the_query_imports_no_torch(results_store: Store) -> None:
    code = ("import sys; from securitynet.analysis.results import results_table; from securitynet.store import Store; "
            f"frame = results_table(Store({results_store.url!r})); assert len(frame) > 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_old_database_annotation_reads_under_the_engine_name(results_store: Store) -> None:
    """Jobs stored as "annotation" (before the engine ran annotation) read as annotation.accuracy, kept apart
    by their version; the per-model covariates prefer the engine's job on every image."""
    from securitynet.analysis.frames import load_analysis_data
    from securitynet.analysis.per_model import aggregate, measured_annotations
    from securitynet.store import JobRecord

    results_store.record_job(JobRecord(
        model_id="test/m1", weight_hash=f"sha256:{1:064x}", attack="annotation", attack_version="2",
        params={"n_member": 50, "n_test": 50}, seed=None,
        metrics={"train_accuracy": 0.5, "test_accuracy": 0.25, "overfit_gap": 0.25}))
    frame = results_table(results_store, ["test/m1"], ["annotation*"])
    assert set(frame.attack) == {"annotation.accuracy"} and sorted(frame.attack_version) == ["2", "3"]
    assert sorted(frame.overfit_gap) == pytest.approx(sorted([0.25, 0.03]))  # conftest: gap of m1 is 0.03
    chosen = measured_annotations(aggregate(load_analysis_data(results_store, ["test/m1"]).results))
    assert chosen.set_index("model_id").at["test/m1", "overfit_gap"] == pytest.approx(0.03)


def test_annotation_is_its_own_family_under_either_name(results_store: Store) -> None:
    from securitynet.analysis.declarations import AttackDeclarations
    from securitynet.analysis.frames import load_analysis_data

    undeclared = AttackDeclarations({})  # an old store: the family is taken from the name
    assert undeclared.family("annotation.accuracy") == undeclared.family("annotation") == "annotation"
    assert undeclared.family("mia.loss") == "membership"
    results = load_analysis_data(results_store).results  # declared by the engine's run (conftest)
    assert set(results[results.attack == "annotation.accuracy"].attack_family) == {"annotation"}
