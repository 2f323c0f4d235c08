"""The attack protocol: what an attack declares, what it receives, what it returns.

An attack is a class with a registered ``name`` (dotted, e.g. ``mia.correctness``), a ``version``
(bumped whenever a change alters its numbers, so old results are not mistaken for new ones), an
``access`` level, typed parameters with defaults (a pydantic ``Params`` class), and
``run(target, ctx) -> AttackResult``. It knows no SQL, no executor and no cache layout: everything
it needs (data splits, member/non-member samples, cached posteriors, seeded generators, the device,
a folder for artifacts, the trainer) comes from the ``AttackContext`` the engine hands it.

Access levels are enforced by the engine, not trusted: a ``label`` attack receives a target that
answers only top-1 labels, a ``posterior`` attack one that answers posteriors but has no module,
and only a ``white-box`` attack receives the `TargetModel` itself.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from securitynet.errors import SecurityNetError

if TYPE_CHECKING:
    import torch

    from securitynet.catalog.card import ModelCard
    from securitynet.zoo.reference_cache import ReferenceModels

Access = Literal["label", "posterior", "white-box"]
ACCESS_LEVELS: tuple[str, ...] = get_args(Access)
# Which target views an access level may use, from the weakest to the strongest.
ACCESS_RANK: dict[str, int] = {level: rank for rank, level in enumerate(ACCESS_LEVELS)}

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_FAMILY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
# "higher-is-member", "higher-is-backdoored", "lower-is-backdoored": which way a score points, and to what.
_DIRECTION_PATTERN = re.compile(r"^(higher|lower)-is-[a-z][a-z0-9_-]*$")


class AttackError(SecurityNetError):
    """An attack is malformed, unknown, or was given parameters it does not take."""


class AccessError(SecurityNetError):
    """An attack asked the target for more than its declared access level allows."""


class AttackParams(BaseModel):
    """Base class of every attack's parameters: typed, with defaults, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


@dataclass
class AttackResult:
    """What one attack run produced.

    metrics: name -> value; a value that could not be measured is None with its reason in
        ``missing_reasons`` (never 0).
    artifacts: name -> small JSON-able data, or ``{"path": ...}`` for a file written through
        ``ctx.save_artifact`` (ROC curves, reversed triggers, budget curves).
    data: what the attack used beyond what the context recorded itself (query indices, budgets,
        shadow model ids...), so the number can be reproduced.
    """

    metrics: dict[str, float | None]
    artifacts: dict[str, Any] = field(default_factory=dict)
    missing_reasons: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


class Attack(ABC):
    """Subclass, set the class attributes, define ``Params`` and ``run``, decorate with ``@register_attack``."""

    name: ClassVar[str]
    version: ClassVar[str]
    access: ClassVar[Access]
    description: ClassVar[str] = ""
    Params: ClassVar[type[AttackParams]] = AttackParams
    # The few metrics a reader looks at first, in order: tables show these (``--all-metrics`` the rest).
    # Empty (the default, e.g. for a plug-in that declares none): every metric the attack reports.
    headline_metrics: ClassVar[tuple[str, ...]] = ()
    # What analysis needs, written by the engine to the store's attacks table (see ``declaration``).
    # family: the kind of measurement: "membership", "stealing", "backdoor", "annotation" (or a plug-in's own word).
    family: ClassVar[str] = "other"
    # Per-model metrics that are scores over models: a model-level AUROC of them against ground truth means
    # something (a detector's ``score``); not labels, verdicts or timings.
    score_metrics: ClassVar[tuple[str, ...]] = ()
    # Which way the attack's scores point: "higher-is-member", "higher-is-backdoored", "lower-is-..."; None
    # for an attack that scores nothing.
    score_direction: ClassVar[str | None] = None

    def __init__(self, params: AttackParams | dict[str, Any] | None = None) -> None:
        self.params = self.parse_params(params)

    @classmethod
    def parse_params(cls, params: AttackParams | dict[str, Any] | None = None) -> AttackParams:
        """Validate parameters (strings from the command line are coerced to the declared types)."""
        if isinstance(params, cls.Params):
            return params
        raw = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
        try:
            return cls.Params.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<params>'}: {err['msg']}" for err in exc.errors()
            )
            raise AttackError(f"bad parameters for attack {cls.name}: {problems}") from None

    @classmethod
    def default_params(cls) -> AttackParams:
        return cls.parse_params(None)

    @classmethod
    def declaration(cls) -> dict[str, Any]:
        """What this attack declares for analysis, as plain data: the engine stores it (``Store.record_attacks``)
        so that analysis reads it from the store and never imports attacks."""
        return {"name": cls.name, "version": cls.version, "family": cls.family, "access": cls.access,
                "headline_metrics": list(cls.headline_metrics), "score_metrics": list(cls.score_metrics),
                "score_direction": cls.score_direction, "description": cls.description}

    def params_dict(self) -> dict[str, Any]:
        """The full parameter set (defaults included) as plain JSON data: what is hashed and stored."""
        return self.params.model_dump(mode="json")

    def applicable(self, card: ModelCard) -> str | None:
        """None if the attack can run on this model, else the reason it cannot (shown in the plan).

        Override for attacks limited to some inputs (e.g. 2-D images only) or models (e.g. ones with
        a known trigger). A model that is skipped here gets no job, rather than a failed one.
        """
        return None

    @abstractmethod
    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        """Attack one target. ``target`` is the view allowed by ``access`` (see the module docstring)."""

    @classmethod
    def validate_class(cls) -> None:
        """Refuse a malformed attack class at registration, with one clear message."""
        where = f"{cls.__module__}.{cls.__qualname__}"
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise AttackError(
                f"attack class {where} needs a dotted lowercase name like 'mia.correctness', got {name!r}"
            )
        version = getattr(cls, "version", None)
        if not isinstance(version, str) or not version.strip():
            raise AttackError(f"attack {name} ({where}) needs a non-empty string version")
        if getattr(cls, "access", None) not in ACCESS_LEVELS:
            raise AttackError(
                f"attack {name} ({where}) has access {getattr(cls, 'access', None)!r}; "
                f"expected one of {', '.join(ACCESS_LEVELS)}"
            )
        for attribute in ("headline_metrics", "score_metrics"):
            metrics = getattr(cls, attribute, ())
            if not (isinstance(metrics, tuple) and all(isinstance(m, str) and m for m in metrics)):
                raise AttackError(f"attack {name} ({where}): {attribute} must be a tuple of metric names")
        family = getattr(cls, "family", None)
        if not isinstance(family, str) or not _FAMILY_PATTERN.match(family):
            raise AttackError(f"attack {name} ({where}) needs a lowercase family like 'membership', got {family!r}")
        direction = getattr(cls, "score_direction", None)
        if direction is not None and not (isinstance(direction, str) and _DIRECTION_PATTERN.match(direction)):
            raise AttackError(f"attack {name} ({where}): score_direction must read like 'higher-is-backdoored' "
                              f"or 'lower-is-member', got {direction!r}")
        if cls.score_metrics and direction is None:
            raise AttackError(f"attack {name} ({where}) declares score_metrics but no score_direction")
        if not (isinstance(cls.Params, type) and issubclass(cls.Params, AttackParams)):
            raise AttackError(f"attack {name} ({where}): Params must subclass AttackParams")
        try:
            cls.default_params()
        except AttackError as exc:
            raise AttackError(f"attack {name} ({where}): every parameter needs a default ({exc})") from None


class MembershipSampleLike(Protocol):
    """What ``ctx.membership`` returns (``securitynet.data.MembershipSample``)."""

    members: Any
    nonmembers: Any


class AttackContext(Protocol):
    """Everything an attack may use, handed over by the engine (implemented in `securitynet.engine.context`).

    Randomness: ``rng`` and ``torch_generator`` are seeded from the job's seed and key, so two attacks
    in one run draw independent streams, and the same job draws the same stream on any executor.
    ``membership`` is seeded by the job's seed and the dataset only, so every attack and every model
    of a dataset sees the same member/non-member sets for a given seed (paired comparisons, and one
    posterior computation shared by all attacks on a model).

    The world beyond the job: ``trainer`` (the shared trainer, for models an attack trains itself),
    ``reference_models`` (reference/shadow models, trained once and cached on disk), ``cache_dir(purpose)``
    (a folder for anything else an attack reuses across jobs), ``device`` and ``progress`` (whether a long
    sub-step may draw its own progress bar). An attack imports no configuration, store or trainer itself.
    """

    card: ModelCard
    seed: int
    job_key: str
    access: Access
    rng: np.random.Generator
    torch_generator: torch.Generator
    device: torch.device
    progress: bool

    @property
    def artifacts_dir(self) -> Path: ...

    @property
    def trainer(self) -> Any: ...

    @property
    def reference_models(self) -> ReferenceModels: ...

    def cache_dir(self, purpose: str) -> Path: ...

    def dataset_info(self, dataset: str | None = None) -> Any: ...

    def load_split(self, split: str, dataset: str | None = None) -> Any: ...

    def membership(
        self, n: int, *, member_split: str | None = None, nonmember_split: str | None = None,
        dataset: str | None = None, exclude: Any = None,
    ) -> MembershipSampleLike: ...

    def posteriors(self, target: Any, split: Any) -> np.ndarray: ...

    def predictions(self, target: Any, split: Any) -> np.ndarray: ...

    def record(self, key: str, value: Any) -> None: ...

    def save_artifact(self, name: str, value: Any) -> dict[str, Any]: ...
