"""Plan: models x attacks x seeds -> jobs, each keyed by what decides its numbers.

A job's key is (model id, weight hash, attack name, attack version, parameters hash, seed), the
same key `JobRecord.key` computes, so the store can say which jobs already finished. Jobs are
grouped by model: an executor loads each model once, runs its jobs, and releases it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from securitynet.attacks.base import Attack, AttackError
from securitynet.attacks.registry import match_attacks
from securitynet.catalog.card import ModelCard
from securitynet.errors import SecurityNetError
from securitynet.job_identity import job_key, params_hash

JobState = Literal["pending", "done", "not-applicable"]


@dataclass(frozen=True)
class Job:
    """One unit of work: one attack with one parameter set and one seed on one model's weights."""

    model_id: str
    weight_hash: str | None
    attack: str
    attack_version: str
    params: dict[str, Any]
    seed: int
    origin: str = "measured"

    @property
    def params_hash(self) -> str:
        return params_hash(self.params)

    @property
    def key(self) -> str:
        return job_key(self.model_id, self.weight_hash, self.attack, self.attack_version, self.params_hash, self.seed)


@dataclass
class PlanEntry:
    job: Job
    state: JobState
    reason: str | None = None


@dataclass
class ModelGroup:
    """A model and the jobs to run on it: the unit an executor worker takes."""

    card: ModelCard
    weight_hash: str | None
    jobs: list[Job]


@dataclass
class Plan:
    entries: list[PlanEntry]
    cards: list[ModelCard]
    attacks: list[type[Attack]]
    seeds: list[int]
    pretrained: bool = True
    groups: list[ModelGroup] = field(default_factory=list)

    @property
    def pending(self) -> list[Job]:
        return [e.job for e in self.entries if e.state == "pending"]

    @property
    def done(self) -> list[Job]:
        return [e.job for e in self.entries if e.state == "done"]

    @property
    def not_applicable(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.state == "not-applicable"]

    @property
    def keys(self) -> list[str]:
        """Keys of every job the plan stands for (finished before or still to run)."""
        return [e.job.key for e in self.entries if e.state != "not-applicable"]

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {
                "model_id": e.job.model_id, "attack": e.job.attack, "version": e.job.attack_version,
                "seed": e.job.seed, "params_hash": e.job.params_hash, "state": e.state,
                "reason": e.reason, "key": e.job.key,
            }
            for e in self.entries
        ]
        columns = ["model_id", "attack", "version", "seed", "params_hash", "state", "reason", "key"]
        return pd.DataFrame(rows, columns=columns)


# --- parameters -----------------------------------------------------------------------------------


def _parse_value(text: str) -> Any:
    """JSON when it parses (numbers, booleans, lists, null), else the plain string; pydantic coerces."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_param_overrides(
    items: Iterable[str] | Mapping[str, Any] | None, attacks: Sequence[type[Attack]]
) -> dict[str, dict[str, Any]]:
    """``attack.key=value`` settings (the attack part may be a glob: ``mia.*.n=500``) -> per-attack params.

    A mapping is accepted too: ``{"mia.correctness": {"n": 500}}`` or ``{"mia.correctness.n": 500}``.
    A setting that no selected attack takes is an error, not silently ignored.
    """
    settings: list[tuple[str, str, Any]] = []
    if isinstance(items, Mapping):
        for lhs, value in items.items():
            if isinstance(value, Mapping):
                settings.extend((lhs, key, v) for key, v in value.items())
            else:
                pattern, _, key = lhs.rpartition(".")
                settings.append((pattern, key, value))
    else:
        for item in items or []:
            lhs, sep, raw = item.partition("=")
            pattern, _, key = lhs.strip().rpartition(".")
            if not sep or not pattern or not key:
                raise AttackError(f"parameter setting {item!r} is not of the form attack.key=value")
            settings.append((pattern, key, _parse_value(raw.strip())))
    overrides: dict[str, dict[str, Any]] = {}
    for pattern, key, value in settings:
        targets = [cls for cls in attacks if fnmatch.fnmatchcase(cls.name, pattern)]
        takers = [cls for cls in targets if key in cls.Params.model_fields]
        if not takers:
            known = "; ".join(f"{cls.name}: {', '.join(cls.Params.model_fields) or 'none'}" for cls in targets)
            where = f" (parameters: {known})" if targets else " (no selected attack matches)"
            raise AttackError(f"no selected attack {pattern!r} takes a parameter {key!r}{where}")
        for cls in takers:
            overrides.setdefault(cls.name, {})[key] = value
    return overrides


# --- weights --------------------------------------------------------------------------------------


def resolve_weight_hash(card: ModelCard, pretrained: bool = True) -> str | None:
    """The identity of the weights a job will use, known before loading.

    The card's hash when it has one; otherwise the sha256 of the local file (the loader computes
    the same); None for random weights, or when the file is not available (its jobs then fail
    with the loader's error).
    """
    if not pretrained:
        return None
    if card.weight_hash:
        return card.weight_hash
    from securitynet.zoo.weights import fetch_weights, sha256_file

    try:
        return f"sha256:{sha256_file(fetch_weights(card))}"
    except (SecurityNetError, OSError):
        return None


# --- the plan -------------------------------------------------------------------------------------


def normalise_seeds(seeds: int | Iterable[int]) -> list[int]:
    """``3`` -> [0, 1, 2]; an explicit list is kept (deduplicated, in order)."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"the number of seeds must be at least 1, got {seeds}")
        return list(range(seeds))
    chosen = list(dict.fromkeys(int(s) for s in seeds))
    if not chosen:
        raise ValueError("no seed given")
    return chosen


def build_plan(
    cards: Sequence[ModelCard],
    attacks: str | Sequence[str] | Sequence[type[Attack]],
    *,
    seeds: int | Iterable[int] = 1,
    params: Iterable[str] | Mapping[str, Any] | None = None,
    store: Any | None = None,
    force: bool = False,
    pretrained: bool = True,
) -> Plan:
    """Expand cards x attacks x seeds; mark jobs already finished in the store (unless ``force``)."""
    if not cards:
        raise SecurityNetError("no model selected: the model query matched no card")
    if isinstance(attacks, str) or (attacks and isinstance(attacks[0], str)):
        attack_classes = match_attacks(attacks)  # type: ignore[arg-type]
    else:
        attack_classes = list(attacks)  # type: ignore[arg-type]
    seed_list = normalise_seeds(seeds)
    overrides = parse_param_overrides(params, attack_classes)
    resolved = {cls.name: cls(overrides.get(cls.name)).params_dict() for cls in attack_classes}
    origin = "measured" if pretrained else "measured-random-weights"

    entries: list[PlanEntry] = []
    seen: set[str] = set()
    unique_cards = list({card.id: card for card in cards}.values())
    weight_hashes = {card.id: resolve_weight_hash(card, pretrained) for card in unique_cards}
    for card in unique_cards:
        for cls in attack_classes:
            reason = cls(resolved[cls.name]).applicable(card)
            if reason is None and pretrained and card.weights.format == "onnx":
                from securitynet.engine.access import access_problem  # torch: only for the models that need it

                reason = access_problem(card, cls.access)
            for seed in seed_list:
                job = Job(
                    model_id=card.id, weight_hash=weight_hashes[card.id], attack=cls.name,
                    attack_version=cls.version, params=resolved[cls.name], seed=seed, origin=origin,
                )
                if job.key in seen:
                    continue
                seen.add(job.key)
                entries.append(PlanEntry(job, "not-applicable" if reason else "pending", reason))

    if store is not None and not force:
        finished = store.finished_keys([e.job.key for e in entries if e.state == "pending"])
        for entry in entries:
            if entry.state == "pending" and entry.job.key in finished:
                entry.state = "done"
                entry.reason = "already in the store (use --force to rerun)"

    plan = Plan(entries=entries, cards=unique_cards, attacks=attack_classes, seeds=seed_list, pretrained=pretrained)
    for card in unique_cards:
        jobs = [e.job for e in entries if e.state == "pending" and e.job.model_id == card.id]
        if jobs:
            plan.groups.append(ModelGroup(card=card, weight_hash=weight_hashes[card.id], jobs=jobs))
    return plan
