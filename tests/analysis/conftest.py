"""A small store with known results: measured models, a published twin, ROC artifacts, backdoor ground truth."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from securitynet.attacks.registry import get_attack
from securitynet.catalog.card import BackdoorInfo, InputSpec, ModelCard, PaperInfo, PublishedAnnotation
from securitynet.store import JobRecord, Store

N_MODELS = 6
RUN_ATTACKS = ("annotation.accuracy", "mia.correctness", "mia.loss", "stealing.knockoff", "backdoor.neural_cleanse")
PUBLISHED_ORIGIN = "published:securitynet-2024"
STEAL_DEFAULT = {"surrogate": "target-arch", "query_set": "in-distribution"}


def gap_of(i: int) -> float:
    return 0.03 * i


def measured_card(i: int) -> ModelCard:
    public = i % 2 == 1
    return ModelCard(
        id=f"test/m{i}", name=f"m{i}", source="test", architecture="mlp", family="mlp" if i < 3 else "cnn",
        dataset="digits", num_classes=10, train_size=100 * (i + 1), input=InputSpec(channels=1, size=(8, 8)),
        paper=PaperInfo(venue="NeurIPS" if public else None, venue_type="conference" if public else None,
                        year=2019 + i % 3 if public else None),
        purpose="benchmark" if public else "self-trained",
        backdoor=BackdoorInfo(attack="badnets" if i < 3 else "none", target_label=1 if i < 3 else None),
    )


def published_cards() -> list[ModelCard]:
    twin = ModelCard(
        id="securitynet/digits/m1", name="m1", source="published", model_type="mlp", family="mlp", dataset="digits",
        num_classes=10, train_size=200, paper=PaperInfo(venue="NeurIPS", venue_type="conference", year=2020,
                                                        url="https://example.org/paper"),
        purpose="benchmark",
        published=PublishedAnnotation(train_accuracy=0.99, test_accuracy=0.9, overfit_gap=0.09, source="test table"),
        extra={"securitynet": {"same_as": "test/m1"}},
    )
    alone = ModelCard(
        id="securitynet/cifar10/resnet20", name="resnet20", source="published", model_type="resnet",
        family="resnet", dataset="cifar10", num_classes=10, train_size=50000,
        paper=PaperInfo(venue="CVPR", venue_type="conference", year=2016), purpose="benchmark",
        published=PublishedAnnotation(train_accuracy=None, test_accuracy=0.92, overfit_gap=None, source="test table"),
    )
    return [twin, alone]


def _roc_npz(folder: Path, name: str, scale: float) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    fpr = np.array([0.0, 0.001, 0.01, 0.1, 0.5, 1.0])
    tpr = np.minimum(1.0, fpr * scale + np.array([0, 0.002, 0.02, 0.05, 0.1, 0]))
    tpr[-1] = 1.0
    with path.open("wb") as fh:
        np.savez_compressed(fh, fpr=fpr, tpr=tpr, thresholds=np.linspace(1, 0, len(fpr)))
    return {"path": str(path), "format": "npz", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def populate(store: Store, artifacts: Path) -> None:
    """Write the known results (every database gets exactly the same rows)."""
    store.upsert_cards([measured_card(i) for i in range(N_MODELS)] + published_cards())
    jobs = []
    for i in range(N_MODELS):
        model, gap = f"test/m{i}", gap_of(i)
        test = 0.95 - gap
        jobs.append(JobRecord(model_id=model, weight_hash=f"sha256:{i:064x}", attack="annotation.accuracy",
                              attack_version="3", params={"member_split": None, "test_split": None, "max_images": None},
                              seed=0,
                              metrics={"train_accuracy": test + gap, "test_accuracy": test, "overfit_gap": gap}))
        for seed in (0, 1):
            roc: dict = (_roc_npz(artifacts / f"m{i}-s{seed}", "roc", 1 + i)
                         if i % 2 else {"fpr": [0.0, 0.01, 0.1, 1.0], "tpr": [0.0, 0.02 + 0.01 * i, 0.2, 1.0]})
            jobs.append(JobRecord(model_id=model, weight_hash=f"sha256:{i:064x}", attack="mia.correctness",
                                  attack_version="1", params={"n": 100}, seed=seed,
                                  metrics={"auc": 0.5 + gap / 2 + 0.001 * seed, "tpr_at_1pct_fpr": 0.01 * i},
                                  artifacts={"roc": roc}, run_id="run-test", software_version="0.1.0", device="cpu"))
        loss_metrics = {"auc": 0.52 + gap} if i != 4 else {"auc": None}
        jobs.append(JobRecord(model_id=model, weight_hash=f"sha256:{i:064x}", attack="mia.loss", attack_version="1",
                              params={"n": 100}, seed=0, metrics=loss_metrics,
                              missing_reasons={} if i != 4 else {"auc": "attack failed to converge"}))
        for surrogate, accuracy in (("target-arch", test - 0.05), ("wrn", test - 0.1)):
            jobs.append(JobRecord(model_id=model, weight_hash=f"sha256:{i:064x}", attack="stealing.knockoff",
                                  attack_version="1", params={"surrogate": surrogate, "query_set": "in-distribution",
                                                              "budget": 1000}, seed=0,
                                  metrics={"accuracy": accuracy, "agreement": accuracy + 0.02}))
        jobs.append(JobRecord(model_id=model, weight_hash=f"sha256:{i:064x}", attack="backdoor.neural_cleanse",
                              attack_version="1", params={}, seed=0,
                              metrics={"anomaly_index": 3.0 + i if i < 3 else 0.5 + 0.2 * i}))
    jobs += [
        JobRecord(model_id="securitynet/digits/m1", weight_hash=None, attack="mia.correctness",
                  attack_version="securitynet-2024", params={}, seed=None, metrics={"auc": 0.55},
                  origin=PUBLISHED_ORIGIN),
        JobRecord(model_id="securitynet/digits/m1", weight_hash=None, attack="mia.modified_entropy",
                  attack_version="securitynet-2024", params={}, seed=None, metrics={"auc": None},
                  missing_reasons={"auc": "published as 0: not computed"}, origin=PUBLISHED_ORIGIN),
        JobRecord(model_id="securitynet/digits/m1", weight_hash=None, attack="stealing.knockoff",
                  attack_version="securitynet-2024", params=STEAL_DEFAULT, seed=None,
                  metrics={"accuracy": 0.8, "agreement": 0.85}, origin=PUBLISHED_ORIGIN),
        JobRecord(model_id="securitynet/cifar10/resnet20", weight_hash=None, attack="mia.correctness",
                  attack_version="securitynet-2024", params={}, seed=None, metrics={"auc": 0.52},
                  origin=PUBLISHED_ORIGIN),
    ]
    store.record_jobs(jobs)
    # What the engine writes once per run: the declarations of the attacks it ran (mia.modified_entropy was
    # only imported from the published table, so it stays undeclared, as it would in a real store).
    store.record_attacks([get_attack(name).declaration() for name in RUN_ATTACKS], run_id="run-test")


@pytest.fixture(scope="session")
def populate_store() -> Callable[[Store, Path], None]:
    return populate


@pytest.fixture
def results_store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    populate(store, tmp_path / "artifacts")
    return store
