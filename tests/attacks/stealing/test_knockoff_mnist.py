"""Stealing a public MNIST model through the engine into a store: the issue's checks on real weights and data.

One module-level run of three jobs (35 s on 2 idle cores, three minutes on busy ones), read back from the store:
5,000 in-distribution queries with posterior answers (with a budget-curve point at 500), 500 queries answered
with labels only, and 500 out-of-distribution (GTSRB) queries with posteriors.

The attack runs with its default recipe (posteriors learned at temperature 2, labels with smoothing 0.1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from securitynet.data import load_split

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

ATTACK = "stealing.knockoff"
MODEL = "file/lenet5_advertorch_clean"
COMMON = {"surrogate": "small-cnn"}
RUNS = {
    "posterior-5000": {"budget": 5000, "curve": [0.1, 1.0]},
    "label-500": {"budget": 500, "answer": "label", "curve": [1.0]},
    "ood-500": {"budget": 500, "query_set": "out-of-distribution", "curve": [1.0]},
}


@pytest.fixture(scope="module")
def stolen(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """{run name: (metrics, job data, artifacts)} of the three jobs, as stored."""
    from securitynet.engine.run import evaluate
    from securitynet.errors import DatasetError
    from securitynet.store import Store

    mirror = shared_data / "models" / "mnist"
    if not mirror.is_dir():
        pytest.skip(f"{mirror} is absent")
    try:
        load_split("mnist", "test"), load_split("mnist", "train_subset_5k"), load_split("gtsrb", "train")
    except DatasetError as exc:
        pytest.skip(f"MNIST or GTSRB unavailable: {exc}")
    home = tmp_path_factory.mktemp("stealing-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("SECURITYNET_MIRROR", str(mirror))
    patch.setenv("SECURITYNET_OFFLINE", "1")
    patch.setenv("SECURITYNET_HOME", str(home))
    try:
        store = Store(f"sqlite:///{home / 'results.sqlite'}")
        hashes = {}
        for name, params in RUNS.items():
            frame = evaluate(MODEL, ATTACK, params={ATTACK: {**COMMON, **params}}, store=store, device="cpu")
            assert not frame.attrs["failed"], frame.attrs["failed"]
            hashes[frame.params_hash.iloc[0]] = name
        results = store.results_frame(attack_like=ATTACK)
        artifacts = store.artifacts_for(MODEL, ATTACK)
    finally:
        patch.undo()
    runs = {}
    for params_hash, rows in results.groupby("params_hash"):
        name = hashes[params_hash]
        metrics = dict(zip(rows.metric, rows.value, strict=True))
        data = rows.data_json.iloc[0]
        data = json.loads(data) if isinstance(data, str) else data
        params_json = rows.params_json.iloc[0]
        files = {a["name"]: a for a in artifacts if a["params_json"] == params_json}
        runs[name] = (metrics, data, files)
    assert set(runs) == set(RUNS)
    return runs


def _digests(images: np.ndarray) -> set[str]:
    return {hashlib.sha1(image.tobytes()).hexdigest() for image in images}


def test_5000_in_distribution_posterior_queries_reach_agreement_0_9(stolen) -> None:
    metrics, data, files = stolen["posterior-5000"]
    assert metrics["queries"] == 5000
    assert metrics["agreement"] >= 0.9
    assert metrics["accuracy"] >= 0.9
    assert metrics["agreement_at_500"] < metrics["agreement_at_5000"] == metrics["agreement"]
    evaluation = data["attack"]["evaluation_set"]
    assert (evaluation["dataset"], evaluation["split"], len(evaluation["indices"])) == ("mnist", "test", 10_000)
    curve = json.loads(Path(files["budget_curve"]["path"]).read_text())
    assert [p["queries"] for p in curve["points"]] == [500, 5000]


def test_query_images_are_never_evaluation_images(stolen) -> None:
    """Checked on the recorded indices, and on the image bytes behind them."""
    for name, (_metrics, data, files) in stolen.items():
        queries, evaluation = data["attack"]["query_set"], data["attack"]["evaluation_set"]
        saved = np.load(files["queries"]["path"])
        assert saved["query_indices"].tolist() == queries["indices"]
        assert saved["evaluation_indices"].tolist() == evaluation["indices"]
        if (queries["query_dataset"], queries["query_split"]) == (evaluation["dataset"], evaluation["split"]):
            assert not set(queries["indices"]) & set(evaluation["indices"]), name
        queried = load_split(queries["query_dataset"], queries["query_split"])
        evaluated = load_split(evaluation["dataset"], evaluation["split"])
        query_images = queried.images[queried.positions_of(queries["indices"])]
        eval_images = evaluated.images[evaluated.positions_of(evaluation["indices"])]
        if query_images.shape[1:] == eval_images.shape[1:]:
            assert not _digests(query_images) & _digests(eval_images), name


def test_label_answers_do_not_beat_posteriors_at_the_same_budget(stolen) -> None:
    posterior, p_data, _ = stolen["posterior-5000"]
    label, l_data, _ = stolen["label-500"]
    # Same seed and query set: the 500 label queries are the first 500 of the posterior run's sequence.
    assert l_data["attack"]["query_set"]["indices"] == p_data["attack"]["query_set"]["indices"][:500]
    assert label["queries"] == 500
    assert label["agreement"] <= posterior["agreement_at_500"]


def test_out_of_distribution_queries_steal_less_than_in_distribution_ones(stolen) -> None:
    posterior, _, _ = stolen["posterior-5000"]
    ood, o_data, _ = stolen["ood-500"]
    assert o_data["attack"]["query_set"]["query_dataset"] == "gtsrb"
    assert ood["queries"] == 500
    assert ood["agreement"] < posterior["agreement_at_500"]
    assert ood["target_accuracy"] == posterior["target_accuracy"]  # the same evaluation images
