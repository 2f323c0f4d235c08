"""Engine test fixtures: tiny digits models in a private mirror, private caches, the test attack plug-in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PLUGIN = "securitynet_test_attacks"
if str(HERE) not in sys.path:  # test modules import the helpers beside them (local_ray_cluster, same_results)
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session", autouse=True)
def _engine_plugins() -> None:
    """Make the test models and attacks importable here and in every worker or subprocess."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(HERE) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *paths])
    os.environ["SECURITYNET_ATTACK_MODULES"] = PLUGIN
    from securitynet.attacks.registry import load_attacks

    load_attacks(reload=True)


@pytest.fixture
def engine_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Private weight mirror, posterior cache and artifacts folder for one test."""
    paths = {name: tmp_path / name for name in ("mirror", "cache", "home")}
    for path in paths.values():
        path.mkdir()
    monkeypatch.setenv("SECURITYNET_MIRROR", str(paths["mirror"]))
    monkeypatch.setenv("SECURITYNET_CACHE", str(paths["cache"]))
    monkeypatch.setenv("SECURITYNET_HOME", str(paths["home"]))
    return paths


@pytest.fixture(scope="session")
def digits_train():
    from securitynet.data import load_split

    return load_split("digits", "train")


@pytest.fixture
def tiny_cards(engine_env: dict[str, Path], digits_train):
    """Three tiny digits models with different seeds and training lengths (so accuracies differ)."""
    from securitynet_test_models import make_tiny_card

    return [
        make_tiny_card(engine_env["mirror"], i, train_images=digits_train.images, train_labels=digits_train.labels,
                       steps=steps)
        for i, steps in enumerate((0, 5, 40))
    ]


@pytest.fixture
def one_attack_per_family() -> dict[str, dict]:
    """One cheap attack of each family (membership, stealing, backdoor) with parameters for the tiny digits models."""
    return {
        "mia.correctness": {"n": 100},
        "stealing.knockoff": {"budget": 200, "epochs": 1, "min_steps": 5, "curve": [1.0]},
        "backdoor.strip": {"n_inputs": 40, "n_calibration": 40, "n_overlay": 4, "n_overlay_pool": 80},
    }
