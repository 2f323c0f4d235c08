"""Job identity is stable: the hashes below were recorded from the code before job identity moved out of
the store. A changed value means every stored job would be rerun or duplicated."""

from __future__ import annotations

from securitynet.job_identity import JobRecord, job_key, params_hash
from securitynet.store import JobRecord as StoreJobRecord

PARAMS = {"n_shadow": 4, "lr": 0.01, "name": "x", "nested": {"b": 1, "a": [1, 2.5]}}


def test_params_hash_is_the_recorded_one() -> None:
    assert params_hash(PARAMS) == "fb27442a3106b891"
    assert params_hash({}) == "44136fa355b3678a"
    assert params_hash(dict(reversed(PARAMS.items()))) == params_hash(PARAMS)  # key order does not matter


def test_job_key_is_the_recorded_one() -> None:
    p_hash = params_hash(PARAMS)
    assert job_key("mnist/lenet", "abc123", "membership.loss", "1", p_hash, 7) == "06a638ef4179880356e12f13a4f28543"
    assert job_key("mnist/lenet", None, "membership.loss", "1", p_hash, None) == "243d3285cf16f876751df5ab95c137dd"


def test_record_key_is_the_recorded_one() -> None:
    record = JobRecord(model_id="m", weight_hash="w", attack="a.b", attack_version="2", params={"k": 1.0}, seed=3)
    assert (record.params_hash, record.key) == ("46132d034c7785cc", "99d0635a8fdd3adb06659ba3021e2274")
    assert StoreJobRecord is JobRecord  # the store's name is the same class, not a copy
