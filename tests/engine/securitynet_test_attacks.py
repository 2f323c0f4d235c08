"""Attacks for engine tests, registered through SECURITYNET_ATTACK_MODULES (as an unpackaged plug-in would be).

`test.probe` uses every part of the context: the member sample, cached posteriors, both seeded
generators; it can be slowed down (`delay_s`) so a run can be killed halfway, or made to fail.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from pydantic import Field

from securitynet.attacks.base import Attack, AttackContext, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack


def _ray_node() -> dict[str, str]:
    """The Ray node that ran the job, when a Ray worker ran it (multi-node tests check where jobs went)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    return {"ray_node": ray.get_runtime_context().get_node_id()}


def _true_class(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return probs[np.arange(len(labels)), labels]


class ProbeParams(AttackParams):
    n: int = Field(40, ge=1)
    delay_s: float = Field(0.0, ge=0)
    fail: bool = False


@register_attack
class ProbeAttack(Attack):
    name = "test.probe"
    version = "1"
    access = "posterior"
    description = "engine test attack: posteriors, seeded draws, optional delay or failure"
    Params = ProbeParams

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: ProbeParams = self.params  # type: ignore[assignment]
        if params.fail:
            raise RuntimeError("probe asked to fail")
        sample = ctx.membership(params.n)
        member_probs = ctx.posteriors(target, sample.members)
        nonmember_probs = ctx.posteriors(target, sample.nonmembers)
        time.sleep(params.delay_s)
        scores = ctx.save_artifact("member_posteriors", np.asarray(member_probs))
        return AttackResult(
            metrics={
                "member_confidence": float(_true_class(member_probs, sample.members.labels).mean()),
                "nonmember_confidence": float(_true_class(nonmember_probs, sample.nonmembers.labels).mean()),
                "numpy_draw": float(ctx.rng.random()),
                "torch_draw": float(torch.rand(1, generator=ctx.torch_generator).item()),
                "global_draw": float(np.random.random()),
                "unmeasured": None,
            },
            missing_reasons={"unmeasured": "this probe never measures it"},
            artifacts={"member_posteriors": scores},
            data={"probe": True, **_ray_node()},
        )


@register_attack
class SecondProbeAttack(ProbeAttack):
    """The same probe under another name: a second posterior attack that should hit the cache."""

    name = "test.probe2"
