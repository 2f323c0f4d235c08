"""Job identity: what makes two measurements the same job, and the record of one finished job.

Ground floor (standard library only) so that every side that makes or reads jobs uses one definition:
the engine plans and keys them, the store writes them, the catalog's published-table import builds them.
A key must never change for the same inputs: the store skips a finished key, so a changed hash would
rerun (or duplicate) every stored measurement.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def params_hash(params: dict[str, Any]) -> str:
    """Stable hash of attack parameters (key order and int/float spelling do not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def job_key(
    model_id: str, weight_hash: str | None, attack: str, attack_version: str, p_hash: str, seed: int | None
) -> str:
    """The identity of a job: rerunning the same key is a no-op unless forced."""
    blob = "\x1f".join([model_id, weight_hash or "-", attack, attack_version, p_hash, str(seed)])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class JobRecord:
    """What the engine (or an import) tells the store about one finished (or failed) job."""

    model_id: str
    weight_hash: str | None
    attack: str
    attack_version: str
    params: dict[str, Any]
    seed: int | None
    status: str = "done"  # done | failed
    metrics: dict[str, float | None] = field(default_factory=dict)
    missing_reasons: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    data: dict[str, Any] | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)  # name -> {"path": ..., ...} or plain data
    origin: str = "measured"
    run_id: str | None = None
    software_version: str | None = None
    device: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def params_hash(self) -> str:
        return params_hash(self.params)

    @property
    def key(self) -> str:
        return job_key(
            self.model_id, self.weight_hash, self.attack, self.attack_version, self.params_hash, self.seed
        )
