"""What each attack is, as the store's attacks table declares it: its family (membership, stealing, backdoor,
annotation...), its headline metrics, which of its metrics are scores and which way they point.

The engine writes these declarations once per run (``Attack.declaration``); analysis reads them here and never
imports the attacks. An attack the table lacks (results stored before schema 3, or imported from a published
table whose attack never ran here) is *undeclared*: analysis then falls back to the rules it used before
attacks declared themselves (family from the name's first part, the old headline order, every backdoor metric
but the label-like ones taken as a score, higher meaning backdoored) and says so: ``undeclared`` lists those
attacks, and the report names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from securitynet.store import schema
from securitynet.store.declarations import declared_headline

# The fallback for undeclared attacks: the rules analysis used before the attacks table existed.
_FAMILY_BY_NAME_PREFIX = {"mia": "membership", "membership": "membership", "stealing": "stealing",
                          "steal": "stealing", "backdoor": "backdoor", "annotation": "annotation"}
_HEADLINE_ORDER = ("auc", "auroc", "agreement", "accuracy", "anomaly_index", "score")
_NOT_SCORES = {
    "suspected_target": "a class label, not a score: no AUROC",
    "target_hit": "defined for backdoored models only: no AUROC",
}


@dataclass(frozen=True)
class AttackInfo:
    """One attack as analysis sees it; ``declared`` False: the fallback rules made it up from the name."""

    name: str
    family: str
    headline_metrics: tuple[str, ...]
    score_metrics: tuple[str, ...]
    score_direction: str | None
    declared: bool

    @property
    def higher_is_positive(self) -> bool:
        """Whether a higher score means the positive class (member, backdoored); True when undeclared."""
        return not (self.score_direction or "").startswith("lower-")

    def headline_metric(self, metrics: Iterable[str]) -> str | None:
        """The metric that stands for this attack in cross-attack comparisons, among ``metrics``
        (``store.declarations.declared_headline``; the old fixed order when undeclared)."""
        if not self.declared:
            present = set(metrics)
            return next((m for m in _HEADLINE_ORDER if m in present), None)
        return declared_headline(self.headline_metrics, self.score_metrics, metrics)

    def why_not_a_score(self, metric: str) -> str | None:
        """None when a model-level AUROC of ``metric`` means something, else why not."""
        if not self.declared:
            return _NOT_SCORES.get(metric)
        if metric in self.score_metrics:
            return None
        return f"not a score {self.name} declares ({', '.join(self.score_metrics) or 'none'}): no AUROC"


@dataclass(frozen=True)
class AttackDeclarations:
    """The declared attacks of a store, and the fallback for the others."""

    declared: Mapping[str, AttackInfo]

    def info(self, attack: str) -> AttackInfo:
        found = self.declared.get(attack)
        if found is not None:
            return found
        family = _FAMILY_BY_NAME_PREFIX.get(attack.split(".", 1)[0], "other")
        return AttackInfo(name=attack, family=family, headline_metrics=(), score_metrics=(),
                          score_direction=None, declared=False)

    def family(self, attack: str) -> str:
        return self.info(attack).family

    def undeclared(self, attacks: Iterable[str]) -> list[str]:
        """The attacks among ``attacks`` that the store does not declare (analysis guessed them)."""
        return sorted({a for a in attacks if a not in self.declared})


def _as_tuple(value: Any) -> tuple[str, ...]:
    return tuple(json.loads(value) if isinstance(value, str) else (value or ()))


def load_declarations(store: Any) -> AttackDeclarations:
    """The store's attacks table (empty for a database older than schema 3: everything is then undeclared)."""
    a = schema.attacks.c
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(a.name, a.family, a.headline_metrics, a.score_metrics, a.score_direction))
        declared = {row.name: AttackInfo(name=row.name, family=row.family,
                                         headline_metrics=_as_tuple(row.headline_metrics),
                                         score_metrics=_as_tuple(row.score_metrics),
                                         score_direction=row.score_direction, declared=True) for row in rows}
    return AttackDeclarations(declared)


def declarations_of(rows: Iterable[Mapping[str, Any]]) -> AttackDeclarations:
    """Declarations from plain rows (``Attack.declaration()`` dicts): for frames built without a store."""
    return AttackDeclarations({row["name"]: AttackInfo(
        name=row["name"], family=row["family"], headline_metrics=tuple(row.get("headline_metrics") or ()),
        score_metrics=tuple(row.get("score_metrics") or ()), score_direction=row.get("score_direction"),
        declared=True) for row in rows})
