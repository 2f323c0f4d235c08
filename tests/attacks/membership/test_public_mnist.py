"""Every membership attack of the suite on a public MNIST model, through the engine, stored with provenance."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import securitynet
from securitynet.attacks import list_attacks
from securitynet.attacks.membership.metrics import MEMBERSHIP_METRICS
from securitynet.store import schema

MODEL = "file/lenet5_advertorch_clean"
# Small enough for CI on 2 cores: reference models train one epoch on 300 images.
CHEAP = {"n": 200, "reference_epochs": 1, "reference_train_size": 300}
PARAMS = {
    "mia.correctness": {"n": 200},
    "mia.label_noise": {**CHEAP, "sigmas": [0.05, 0.1], "draws": 2},
    "mia.mlp_*": {**CHEAP, "max_iter": 50},
    "mia.lira_*": {**CHEAP, "n_reference": 4},
    "mia.rmia_*": {**CHEAP, "n_reference": 4, "n_population_z": 500},
}


@pytest.fixture
def offline_mnist(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = shared_data / "models" / "mnist"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    for name, path in (("SECURITYNET_HOME", "home"), ("SECURITYNET_CACHE", "cache")):
        monkeypatch.setenv(name, str(tmp_path / path))
    monkeypatch.setenv("SECURITYNET_MIRROR", str(folder))
    monkeypatch.setenv("SECURITYNET_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError("the membership suite tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tmp_path


def _params() -> dict[str, dict]:
    out = {}
    for cls in list_attacks("mia.*"):
        chosen = {}
        for pattern, values in PARAMS.items():
            if cls.name == pattern or (pattern.endswith("*") and cls.name.startswith(pattern[:-1])):
                chosen = dict(values)
        out[cls.name] = chosen or dict(CHEAP)
    return out


@pytest.mark.slow
def test_every_membership_attack_reports_all_metrics_with_provenance(offline_mnist, store) -> None:
    attacks = [cls.name for cls in list_attacks("mia.*")]
    assert len(attacks) >= 13
    frame = securitynet.evaluate(MODEL, "mia.*", store=store, params=_params())
    assert frame.attrs["failed"] == []
    jobs = store.jobs_frame().set_index("attack")
    assert set(jobs.index) == set(attacks) and set(jobs.status) == {"done"}
    for attack in attacks:
        rows = frame[frame.attack == attack].set_index("metric")
        for metric in MEMBERSHIP_METRICS:
            value = rows.loc[metric, "value"]
            assert value is not None and np.isfinite(value) and 0.0 <= value <= 1.0, (attack, metric)
        # every attack decided with a threshold fixed on attacker-known data, or says why not
        threshold = rows.loc["accuracy_at_threshold"]
        assert np.isfinite(threshold.value) or threshold.missing_reason, attack
        job = jobs.loc[attack]
        assert job.weight_hash.endswith("551a11267982991fb0c9f74e9094de19e54b51455eff9bd1c19c77a69d85156a")
        assert job.software_version == securitynet.__version__ and job.attack_version
        data = job.data_json
        (used,) = [u for u in data["data_used"] if u["kind"] == "membership"]
        assert used["member_split"] == "train_subset_5k" and used["nonmember_split"] == "test"
        assert len(used["member_indices"]) == len(used["nonmember_indices"]) == 200
        population = data["attack"]["attacker_population"]  # every attack keeps the same population out
        assert population["split"] == "test" and not set(population["indices"]) & set(used["nonmember_indices"])
        assert data["attack"]["evaluated"]["n_members"] == 200
        if attack.startswith(("mia.lira", "mia.rmia")):
            described = data["attack"]["reference_models"]
            assert len(described["models"]) == 4 and described["spec"]["architecture"] == "lenet5_advertorch"
            assert all(m["weight_hash"].startswith("sha256:") for m in described["models"])
    # the ROC curve and the per-example scores are files whose hashes are stored
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(schema.artifacts)).fetchall()
    names = {(row.name) for row in stored}
    assert {"roc", "scores"} <= names
    for row in stored:
        path = Path(row.path)
        assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == row.data_json["sha256"]
    scores = np.load(next(Path(r.path) for r in stored if r.name == "scores"))
    assert len(scores["member_indices"]) == len(scores["member_scores"])
