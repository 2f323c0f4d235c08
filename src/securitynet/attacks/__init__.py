"""Attacks: the protocol every attack follows and the registry that finds them by name.

Suites live in sub-packages (``membership``, ``stealing``, ``backdoor``); every module under this
package is imported by the registry, so a new attack needs only its file and ``@register_attack``.
"""

from securitynet.attacks.base import (
    ACCESS_LEVELS,
    Access,
    AccessError,
    Attack,
    AttackContext,
    AttackError,
    AttackParams,
    AttackResult,
)
from securitynet.attacks.registry import (
    get_attack,
    headline_metrics_by_attack,
    list_attacks,
    load_errors,
    match_attacks,
    register_attack,
)

__all__ = [
    "ACCESS_LEVELS",
    "Access",
    "AccessError",
    "Attack",
    "AttackContext",
    "AttackError",
    "AttackParams",
    "AttackResult",
    "get_attack",
    "headline_metrics_by_attack",
    "list_attacks",
    "load_errors",
    "match_attacks",
    "register_attack",
]
