"""Issue checks on the public MNIST models of ../shared/data: Neural Cleanse flags verazuo's BadNet with target
label 1 and none of the three clean models; STRIP's input-level AUROC on the BadNet's triggered test images
(the trigger recorded on its card) is above 0.9.

Neural Cleanse runs with the quickstart's cut-down budget (the figures the quickstart reports); the full
default budget is what benchmarks/backdoor.py compares with ART.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from securitynet.attacks import get_attack
from securitynet.attacks.backdoor.quickstart import SMALL_PARAMS
from securitynet.catalog.sources import yaml_cards
from securitynet.engine.access import view_for
from securitynet.engine.context import JobContext
from securitynet.zoo.loader import load_target

CLEAN = ("file/lenet5_advertorch_clean", "file/lenet5_advertorch_advtrained", "file/mnistnet_shrinkbench")
BADNET = "file/badnet_verazuo_mnist"


@pytest.fixture(scope="module")
def mirror(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = shared_data / "models" / "mnist"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    from securitynet.data import get_dataset, locate_split
    from securitynet.errors import DatasetError

    try:
        locate_split(get_dataset("mnist"), "test")
    except DatasetError as exc:
        pytest.skip(f"MNIST test split unavailable: {exc}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SECURITYNET_MIRROR", str(folder))
        patch.setenv("SECURITYNET_OFFLINE", "1")
        patch.setenv("SECURITYNET_CACHE", str(tmp_path_factory.mktemp("public-cache")))

        def refuse(*args, **kwargs):
            raise AssertionError("a public model card tried to reach the network although it is mirrored")

        patch.setattr(socket, "create_connection", refuse)
        yield folder


def _run(attack: str, model_id: str, tmp_path: Path, params: dict | None = None):
    card = next(c for c in yaml_cards.iter_cards() if c.id == model_id)
    attack_cls = get_attack(attack)
    ctx = JobContext.standalone(card, seed=0, device="cpu", access=attack_cls.access, artifacts_root=tmp_path)
    target = load_target(card, device="cpu")
    return attack_cls(params).run(view_for(target, attack_cls.access), ctx)


@pytest.mark.slow
def test_neural_cleanse_flags_the_public_badnet_with_target_1(mirror: Path, tmp_path: Path) -> None:
    result = _run("backdoor.neural_cleanse", BADNET, tmp_path, SMALL_PARAMS["backdoor.neural_cleanse"])
    metrics = result.metrics
    assert metrics["flagged"] == 1.0 and metrics["suspected_target"] == 1.0 and metrics["target_hit"] == 1.0
    assert metrics["anomaly_index"] > 2
    masks = np.load(result.artifacts["masks"]["path"])
    # The reversed trigger of class 1 lies in the bottom-right corner, where the real patch is.
    corner = masks[1][-8:, -8:].sum()
    assert corner > 0.5 * masks[1].sum()


@pytest.mark.slow
@pytest.mark.parametrize("model_id", CLEAN)
def test_neural_cleanse_does_not_flag_the_clean_public_models(model_id: str, mirror: Path, tmp_path: Path) -> None:
    metrics = _run("backdoor.neural_cleanse", model_id, tmp_path, SMALL_PARAMS["backdoor.neural_cleanse"]).metrics
    assert metrics["flagged"] == 0.0 and metrics["anomaly_index"] <= 2
    assert metrics["target_hit"] is None  # a clean model has no target label


@pytest.mark.slow
def test_strip_separates_the_badnet_triggered_test_images(mirror: Path, tmp_path: Path) -> None:
    result = _run("backdoor.strip", BADNET, tmp_path)
    metrics = result.metrics
    assert metrics["auroc"] > 0.9
    assert metrics["far_at_frr"] < 0.1 and metrics["triggered_target_rate"] > 0.95
    entropies = np.load(result.artifacts["entropies"]["path"])
    assert entropies["triggered"].mean() < entropies["clean"].mean()
