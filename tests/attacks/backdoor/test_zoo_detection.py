"""Issue check: on a generated MNIST zoo of 10 clean and 10 BadNets models, Neural Cleanse reaches a
model-level AUROC of at least 0.9 and names the right target label for most backdoored models.

Small and fast on purpose (MLPs, 3 epochs on the 5,000-image MNIST training subset, a cut-down Neural
Cleanse budget); a few minutes on two busy cores, so it is marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from securitynet.analysis.stats import backdoor_detection_in
from securitynet.attacks.backdoor.quickstart import SMALL_PARAMS


@pytest.fixture(scope="module")
def mnist(shared_data: Path) -> None:
    from securitynet.data import get_dataset, locate_split
    from securitynet.errors import DatasetError

    info = get_dataset("mnist")
    try:
        locate_split(info, "test")
        locate_split(info, "train_subset_5k")
    except DatasetError as exc:
        pytest.skip(f"MNIST is not available offline: {exc}")


@pytest.mark.slow
def test_neural_cleanse_separates_a_badnets_zoo(mnist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from securitynet.engine.run import evaluate
    from securitynet.store import Store
    from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec, build_trojan_zoo

    monkeypatch.setenv("SECURITYNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    spec = TrojanZooSpec(dataset="mnist", n_clean=10, n_trojaned=10, attacks=("badnets",), seed=0,
                         architectures=("mlp",), epochs=3)
    cards = build_trojan_zoo(spec, device="cpu", progress=False)
    backdoored = [c for c in cards if c.backdoor.attack == "badnets"]
    assert len(backdoored) == 10 and len(cards) == 20
    assert all(c.backdoor.attack_success_rate >= 0.8 for c in backdoored)

    store = Store(f"sqlite:///{tmp_path / 'zoo.sqlite'}")
    params = {"backdoor.neural_cleanse": SMALL_PARAMS["backdoor.neural_cleanse"]}
    frame = evaluate(cards, "backdoor.neural_cleanse", params=params, store=store, device="cpu")
    assert frame.attrs["failed"] == []
    summary = backdoor_detection_in(store, [card.id for card in cards]).set_index("metric")
    assert summary.loc["score", "n_clean"] == 10 and summary.loc["score", "n_backdoored"] == 10
    assert summary.loc["score", "model_auroc"] >= 0.9
    hits = summary.loc["target_hit"]
    assert hits.mean_backdoored > 0.5 and hits.n_backdoored == 10
