"""All four detectors through the engine on a tiny digits trojan zoo: stored per-model scores, artifacts,
ground-truth handling, model-level AUROC recomputed from the store; MNTD's meta-classifier cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securitynet.analysis.stats import backdoor_detection_in
from securitynet.zoo import selftrained
from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec, build_trojan_zoo

FAST = {
    "backdoor.neural_cleanse": {"n_images": 100, "batch_size": 16, "steps_per_epoch": 4, "max_epochs": 12},
    "backdoor.strip": {"n_inputs": 100, "n_calibration": 100, "n_overlay": 8, "n_overlay_pool": 100},
    "backdoor.abs": {"images_per_class": 2, "n_eval_images": 100, "steps": 20},
    "backdoor.mntd": {"n_shadow_clean": 3, "n_shadow_trojaned": 3, "shadow_attacks": "badnets",
                      "shadow_train_size": 300, "shadow_architectures": "mlp", "shadow_epochs": 10,
                      "meta_epochs": 5, "n_queries": 4},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("backdoor-engine")
        patch.setenv("SECURITYNET_HOME", str(root / "home"))
        patch.setenv("SECURITYNET_CACHE", str(root / "cache"))
        yield root


@pytest.fixture(scope="module")
def zoo(home: Path):
    spec = TrojanZooSpec(dataset="digits", n_clean=1, n_trojaned=1, attacks=("badnets",), seed=5,
                         architectures=("mlp",), epochs=15, eval_size=300, min_attack_success=0.0)
    return build_trojan_zoo(spec, device="cpu", progress=False)


@pytest.fixture(scope="module")
def evaluated(home: Path, zoo):
    from securitynet.engine.run import evaluate
    from securitynet.store import Store

    store = Store(f"sqlite:///{home / 'store.sqlite'}")
    frame = evaluate(zoo, "backdoor.*", params=FAST, store=store, device="cpu")
    return store, frame


@pytest.mark.slow
def test_every_detector_stores_scores_and_ground_truth_metrics(evaluated, zoo) -> None:
    store, frame = evaluated
    assert frame.attrs["failed"] == []
    clean, trojaned = zoo
    wide = frame.pivot_table(index=["model_id", "attack"], columns="metric", values="value", aggfunc="first")
    for attack in FAST:
        for card in zoo:
            row = wide.loc[(card.id, attack)]
            assert np.isfinite(row["score"]), (attack, card.id)
    nc_bad = wide.loc[(trojaned.id, "backdoor.neural_cleanse")]
    assert nc_bad["target_hit"] in (0.0, 1.0) and 0 <= nc_bad["suspected_target"] < 10
    assert nc_bad["flagged"] in (0.0, 1.0) and nc_bad["anomaly_index"] == nc_bad["score"]
    strip_bad = wide.loc[(trojaned.id, "backdoor.strip")]
    assert 0.0 <= strip_bad["auroc"] <= 1.0 and 0.0 <= strip_bad["far_at_frr"] <= 1.0
    # Unmeasurable metrics are stored as missing with the reason, never as 0.
    results = store.results_frame(model_ids=[clean.id])
    missing = results[results.value.isna()].set_index(["attack", "metric"]).missing_reason
    assert "clean" in missing[("backdoor.neural_cleanse", "target_hit")]
    assert "clean" in missing[("backdoor.strip", "auroc")]
    assert "names no target" in missing[("backdoor.mntd", "suspected_target")]


@pytest.mark.slow
def test_reversed_masks_and_queries_are_kept_as_artifacts(evaluated, zoo) -> None:
    store, _ = evaluated
    trojaned = zoo[1]
    artifacts = {a["name"]: a for a in store.artifacts_for(trojaned.id, "backdoor.neural_cleanse")}
    masks = np.load(artifacts["masks"]["path"])
    assert masks.shape == (10, 8, 8) and masks.min() >= 0 and masks.max() <= 1
    queries = {a["name"]: a for a in store.artifacts_for(trojaned.id, "backdoor.mntd")}["queries"]
    assert np.load(queries["path"]).dtype == np.uint8


@pytest.mark.slow
def test_model_level_auroc_recomputed_from_the_store(evaluated, zoo) -> None:
    store, _ = evaluated
    summary = backdoor_detection_in(store, [card.id for card in zoo])
    summary = summary[summary.metric == "score"]
    assert set(summary.attack) == set(FAST)
    assert (summary.n_clean == 1).all() and (summary.n_backdoored == 1).all()
    assert summary.model_auroc.notna().all() and summary.model_auroc.isin([0.0, 0.5, 1.0]).all()


@pytest.mark.slow
def test_mntd_meta_classifier_is_cached_by_its_shadow_zoo_spec(evaluated, home: Path) -> None:
    from securitynet.attacks.backdoor.mntd import MntdParams, train_meta_classifier

    params = MntdParams(**FAST["backdoor.mntd"])
    runs = selftrained.TRAINING_RUNS["count"]
    cache_root = home / "cache" / "mntd"  # the engine's ctx.cache_dir("mntd") under this module's cache
    cached = train_meta_classifier("digits", params, device="cpu", cache_root=cache_root)
    again = train_meta_classifier("digits", params, device="cpu", cache_root=cache_root)
    assert selftrained.TRAINING_RUNS["count"] == runs  # the evaluation above built and cached it
    np.testing.assert_array_equal(cached.queries, again.queries)
    assert cached.record["validation_models"] >= 2 and 0 <= cached.record["validation_auroc"] <= 1
    assert len(cached.record["shadow_models"]) == 6
    folder = cache_root / "digits" / cached.record["cache_key"]
    assert (folder / "meta.safetensors").is_file() and (folder / "record.json").is_file()
    other = train_meta_classifier(
        "digits", params.model_copy(update={"meta_epochs": 6}), device="cpu", cache_root=cache_root
    )
    assert other.record["cache_key"] != cached.record["cache_key"]  # another spec, another classifier
