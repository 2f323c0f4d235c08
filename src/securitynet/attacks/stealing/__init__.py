"""Model stealing: Knockoff/Copycat-style black-box extraction with in- and out-of-distribution query sets.

    securitynet evaluate --models 'dataset=mnist' --attacks stealing.knockoff \\
        --param stealing.knockoff.query_set=out-of-distribution --param stealing.knockoff.budget=1000

Modules: `knockoff` (the attack), `query_sets` (which images are queried and which evaluate),
`surrogates` (the attacker's architectures), `adaptive` (Knockoff's bandit sampling), `metrics`.
"""

from __future__ import annotations

from typing import Any

ATTACK = "stealing.knockoff"

# Small enough that `make run` steals every public MNIST model and the digits zoo in minutes on a CPU:
# 1,000 queries (all of digits' 898 training images), the LeNet-style surrogate, and a two-point curve.
QUICKSTART_COMMON: dict[str, Any] = {
    "budget": 1000, "surrogate": "small-cnn", "answer": "posterior", "epochs": 10, "min_steps": 200,
    "curve": [0.25, 1.0],
}


def stealing_quickstart_attacks() -> list[tuple[str, dict[str, Any]]]:
    """(attack, params) pairs for the quickstart: one in-distribution and one out-of-distribution query set.

    Out of distribution, MNIST and digits targets are queried with GTSRB images (converted to grey at the
    target's size), the default for those datasets.
    """
    return [
        (ATTACK, {**QUICKSTART_COMMON, "query_set": "in-distribution"}),
        (ATTACK, {**QUICKSTART_COMMON, "query_set": "out-of-distribution"}),
    ]


__all__ = ["ATTACK", "QUICKSTART_COMMON", "stealing_quickstart_attacks"]
