"""Black-box model stealing in the Knockoff Nets / Copycat CNN family (Orekondy et al. 2019; Correia-Silva et al. 2018).

The attacker sends its own images to the target, receives posteriors (or only top-1 labels), and trains a
surrogate on the answers with the shared trainer. Measured on held-out images of the target's dataset that
were never queried: ``accuracy`` (surrogate vs truth) and ``agreement`` (surrogate vs target), plus the
number of ``queries`` spent and, when asked for (``curve``), a budget curve (the same attack at fractions of the
budget, each surrogate trained from the same initial weights on a prefix of the same query sequence).

SecurityNet's three stealing columns are three parameter sets of this attack (see
``catalog.sources.published.PUBLISHED_COLUMNS``): ``surrogate=target-arch, query_set=in-distribution``
(Model Stealing Accuracy / Agreement), ``surrogate=wrn, query_set=in-distribution`` (Wrn Accuracy / Agree),
and ``surrogate=target-arch, query_set=out-of-distribution, query_dataset=imagenet`` (ImgNet Accuracy /
Agree).

Posterior answers are learned as a distilling student learns them: at temperature T, i.e. on p^(1/T)
renormalised (softmax(z / T) of the target's logits z, computed from the posteriors alone), which keeps
the ranking of the classes a confident target nearly rules out visible. Label answers are learned with
label smoothing. Measured with the default recipe, seeds 0-2, mean agreement (label answers / posteriors
at T = 1 / T = 2 / T = 4): public MNIST LeNet (near one-hot posteriors), LeNet-style surrogate, 1,000
queries: 0.953 / 0.939 / 0.955 / 0.959; digits MLP, 400 queries, LeNet-style surrogate: 0.925 / 0.938 /
0.940 / (T = 4 with smoothing 0.1: 0.915); the MLP's own architecture: 0.950 / 0.975 / 0.974. Hence T = 2:
the posteriors then beat the labels on every target measured, and T = 4 is not safe on a less confident
target. (Knockoff Nets trains on the plain posteriors: ``temperature=1``.)

Randomness is split by purpose so that runs compare pairwise: for one seed, the evaluation images and the
query sequence depend only on the query set (not on the answer type, surrogate or recipe), and the
surrogate's initial weights only on the surrogate kind. A posterior run and a label run therefore query
the same images and start from the same weights.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from securitynet.attacks.base import Attack, AttackContext, AttackError, AttackParams, AttackResult
from securitynet.attacks.registry import register_attack
from securitynet.attacks.stealing.adaptive import AdaptiveResult, adaptive_sample
from securitynet.attacks.stealing.metrics import HEADLINE_METRICS, stealing_metrics
from securitynet.attacks.stealing.query_sets import (
    DEFAULT_OOD_DATASET,
    IN_DISTRIBUTION,
    OUT_OF_DISTRIBUTION,
    QuerySets,
    check_disjoint,
    resolve_query_sets,
)
from securitynet.attacks.stealing.surrogates import (
    SurrogateSpec,
    build_surrogate,
    predict_labels,
    predict_proba,
    surrogate_spec,
)
from securitynet.catalog.card import ModelCard
from securitynet.data import ArraySplit
from securitynet.errors import DatasetError
from securitynet.seeds import derive_seed


class KnockoffParams(AttackParams):
    query_set: Literal["in-distribution", "out-of-distribution"] = Field(
        IN_DISTRIBUTION,
        description="in-distribution: the target's dataset, disjoint from the evaluation images; "
        "out-of-distribution: another dataset converted to the target's input ('out-of-distribution:<dataset>' "
        "is accepted as a shorthand for query_dataset)",
    )
    query_dataset: str | None = Field(
        None, description=f"the attacker's dataset for out-of-distribution queries (default: {DEFAULT_OOD_DATASET})"
    )
    query_split: str | None = Field(None, description="split of the query dataset (default: its training split)")
    budget: int = Field(5000, ge=1, description="number of query images sent to the target")
    answer: Literal["posterior", "label"] = Field("posterior", description="what the target answers")
    sampling: Literal["random", "adaptive"] = Field(
        "random", description="random images, or Knockoff's gradient-bandit sampling over the query set's classes"
    )
    surrogate: Literal["target-arch", "wrn", "small-cnn"] = Field(
        "target-arch", description="the target's own architecture (untrained), a WideResNet, or a LeNet-style CNN"
    )
    wrn_depth: int = Field(16, ge=10, description="depth of the WRN surrogate (6n+4)")
    wrn_widen_factor: int = Field(4, ge=1, description="width factor of the WRN surrogate")
    temperature: float = Field(
        2.0, gt=0,
        description="posterior answers: train on p^(1/T), renormalised (1: the plain posteriors, as Knockoff Nets; "
        "T > 1 makes the classes a confident target nearly rules out visible)",
    )
    epochs: int = Field(10, ge=1, description="passes over the answered queries")
    min_steps: int = Field(150, ge=0, description="at least this many SGD steps (small budgets in the curve)")
    # Batch 64 and, for label answers, label smoothing 0.1: measured with the LeNet-style surrogate on the
    # public MNIST LeNet, 1,000 queries, seeds 0-2, 10 epochs: label agreement 0.935 (batch 128) -> 0.952
    # (batch 64, smoothing 0.1), above the 0.949 of 30 epochs at batch 128 without smoothing.
    batch_size: int = Field(64, ge=1)
    label_smoothing: float | None = Field(
        None, ge=0, lt=1,
        description="train on (1 - s) answer + s uniform: one-hot rows for label answers, the tempered "
        "posteriors for posterior answers (default: 0.1 for labels, 0 for posteriors, which the temperature "
        "already softens; smoothing them too lowered agreement with a digits MLP's own architecture from 0.974 "
        "to 0.968)",
    )
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    # Constant by default: with the few hundred steps a stealing run takes, a cosine decay ends the useful
    # part of training early (measured with the LeNet-style surrogate, seeds 0 and 1: agreement 0.949 vs 0.932
    # on the public MNIST LeNet with 1,000 queries, 0.940 vs 0.920 on a digits MLP with 400).
    schedule: Literal["none", "cosine"] = Field("none", description="learning rate schedule over the training steps")
    augmentation: Literal["none", "crop", "flip_crop"] = "none"
    # Only the full budget by default: every other point trains one more surrogate, and the default
    # four-point curve (0.1, 0.25, 0.5, 1) doubled a job's cost at CIFAR scale (issue 16) while the
    # headline accuracy and agreement come from the full-budget surrogate alone.
    curve: tuple[float, ...] = Field(
        (1.0,),
        description="fractions of the budget for the budget curve, e.g. 0.1,0.25,0.5,1 (1.0 is always included; "
        "each other point trains one more surrogate)",
    )
    eval_size: int | None = Field(
        None, ge=1, description="evaluation images (default: the whole held-out split not used for queries)"
    )
    adaptive_round: int = Field(100, ge=1, description="adaptive: queries between policy and surrogate updates")
    adaptive_lr: float = Field(0.1, gt=0, description="adaptive: step size of the bandit's preferences")
    adaptive_reward: Literal["all", "cert", "div", "loss"] = Field("all", description="adaptive: reward")
    adaptive_steps: int = Field(10, ge=1, description="adaptive: surrogate training steps after each round")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = data.get("query_set")
            if isinstance(kind, str) and kind.startswith(f"{OUT_OF_DISTRIBUTION}:"):
                dataset = kind.split(":", 1)[1].strip()
                if data.get("query_dataset") not in (None, dataset):
                    raise ValueError(f"query_set names {dataset!r} but query_dataset is {data['query_dataset']!r}")
                data = {**data, "query_set": OUT_OF_DISTRIBUTION, "query_dataset": dataset or None}
        return data

    @field_validator("curve")
    @classmethod
    def _curve(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f <= 1 for f in value):
            raise ValueError(f"budget fractions must lie in (0, 1], got {list(value)}")
        return tuple(sorted({float(f) for f in value} | {1.0}))

    @property
    def smoothing(self) -> float:
        """The label smoothing this run applies (see ``label_smoothing``)."""
        if self.label_smoothing is not None:
            return self.label_smoothing
        return 0.1 if self.answer == "label" else 0.0


@register_attack
class KnockoffAttack(Attack):
    headline_metrics = HEADLINE_METRICS
    family = "stealing"
    name = "stealing.knockoff"
    version = "1"
    access = "posterior"
    description = (
        "Knockoff/Copycat model stealing: query the target with the attacker's images, train a surrogate on the "
        "answers (posteriors or labels); accuracy and agreement on unqueried held-out images, budget curve"
    )
    Params = KnockoffParams

    def applicable(self, card: ModelCard) -> str | None:
        params: KnockoffParams = self.params  # type: ignore[assignment]
        if card.input is None:
            return "the card has no input spec"
        if card.num_classes is None:
            return "the card does not say how many classes the model has"
        try:
            surrogate_spec(params.surrogate, card, wrn_depth=params.wrn_depth, wrn_widen_factor=params.wrn_widen_factor)
        except AttackError as exc:
            return str(exc)
        from securitynet.data import get_dataset

        try:
            task = get_dataset(card.dataset).task
        except DatasetError:
            return None  # the job then fails with the data error, recorded with the model
        if task.startswith("multi-label"):
            return f"{card.dataset} is multi-label: top-1 agreement is not defined"
        if params.query_set == OUT_OF_DISTRIBUTION and params.query_dataset is None \
                and card.dataset not in DEFAULT_OOD_DATASET:
            return f"no default out-of-distribution query set for {card.dataset}; set query_dataset"
        return None

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: KnockoffParams = self.params  # type: ignore[assignment]
        card = ctx.card
        if card.num_classes is None or card.input is None:
            raise AttackError(f"{card.id}: stealing needs the card's number of classes and input spec")
        spec = surrogate_spec(
            params.surrogate, card, wrn_depth=params.wrn_depth, wrn_widen_factor=params.wrn_widen_factor
        )
        sets = resolve_query_sets(
            card, params.query_set, seed=ctx.seed, query_dataset=params.query_dataset,
            query_split=params.query_split, eval_size=params.eval_size,
            load_split=lambda split, dataset: ctx.load_split(split, dataset),
        )
        surrogate_seed = derive_seed(ctx.seed, "stealing-surrogate", spec.kind, spec.architecture)
        trainer = ctx.trainer
        base_recipe = trainer.TrainRecipe(
            epochs=params.epochs, batch_size=params.batch_size, optimizer=params.optimizer, lr=params.lr,
            weight_decay=params.weight_decay, schedule=params.schedule, augmentation=params.augmentation,
            seed=surrogate_seed,
        )
        started = time.perf_counter()
        adaptive: AdaptiveResult | None = None
        if params.sampling == "random":
            order = self._random_order(sets, params.budget, ctx.seed)
            queries = sets.take(order)
            answers = self._answers_cached(target, ctx, queries, card.num_classes)
        else:
            adaptive, queries = self._adaptive(target, ctx, sets, spec, base_recipe, surrogate_seed)
            order, answers = adaptive.order, adaptive.answers
        query_seconds = time.perf_counter() - started
        check_disjoint(queries, sets.evaluation)

        evaluation = sets.evaluation
        target_labels = np.asarray(ctx.predictions(target, evaluation))
        curve = self._budget_curve(spec, card, queries, answers, evaluation, target_labels, base_recipe,
                                   surrogate_seed, ctx)
        metrics: dict[str, float | None] = {
            "accuracy": curve[-1]["accuracy"],
            "agreement": curve[-1]["agreement"],
            "queries": float(len(order)),
            "target_accuracy": float(np.mean(target_labels == evaluation.labels)),
        }
        for point in curve:
            metrics[f"accuracy_at_{point['queries']}"] = point["accuracy"]
            metrics[f"agreement_at_{point['queries']}"] = point["agreement"]

        query_indices = np.asarray(queries.indices, dtype=np.int64)
        query_set = {**sets.description, "queries": len(order), "budget": params.budget,
                     "indices": query_indices.tolist()}
        if len(order) < params.budget:
            query_set["budget_capped"] = f"the query pool holds only {len(sets.pool)} images"
        ctx.record("query_set", query_set)
        ctx.record("evaluation_set", {"dataset": evaluation.dataset, "split": evaluation.split,
                                      "indices": np.asarray(evaluation.indices).tolist()})
        artifacts = {
            "queries": ctx.save_artifact("queries", {
                "query_indices": query_indices, "evaluation_indices": np.asarray(evaluation.indices, dtype=np.int64),
            }),
            "budget_curve": ctx.save_artifact("budget_curve", {
                "fractions": list(params.curve), "points": curve, "answer": params.answer,
                "query_set": sets.description, "surrogate": spec.describe(),
            }),
        }
        if adaptive is not None:
            artifacts["adaptive_policy"] = ctx.save_artifact("adaptive_policy", {
                "policy": np.asarray(adaptive.policy_history), "arm_labels": np.asarray(adaptive.arm_labels),
                "arms": adaptive.arms, "mean_reward": np.asarray(adaptive.reward_history),
            })
        data = {
            "surrogate": spec.describe(), "answer": params.answer, "sampling": params.sampling,
            "recipe": base_recipe.to_dict(), "temperature": params.temperature, "smoothing": params.smoothing,
            "query_seconds": query_seconds,
            # The engine's count of target queries also includes these labels, used only to measure agreement.
            "evaluation_labels_from_target": len(evaluation),
            "curve": [{k: v for k, v in p.items() if k != "recipe_hash"} for p in curve],
        }
        return AttackResult(metrics=metrics, artifacts=artifacts, data=data)

    # --- queries ------------------------------------------------------------------------------------

    @staticmethod
    def _random_order(sets: QuerySets, budget: int, seed: int) -> np.ndarray:
        """A seeded permutation of the pool, cut at the budget: every smaller budget queries a prefix."""
        rng = np.random.default_rng(derive_seed(seed, "stealing-queries", sets.kind, sets.pool.dataset,
                                                sets.pool.split, len(sets.pool)))
        return rng.permutation(len(sets.pool))[: min(budget, len(sets.pool))]

    def _answers_cached(self, target: Any, ctx: AttackContext, queries: ArraySplit, num_classes: int) -> np.ndarray:
        """The target's answers to the queries through the posterior cache; labels become one-hot rows."""
        if self.params.answer == "posterior":  # type: ignore[attr-defined]
            return np.asarray(ctx.posteriors(target, queries), dtype=np.float32)
        return one_hot(np.asarray(ctx.predictions(target, queries)), num_classes)

    def _answers_direct(self, target: Any, images: np.ndarray, num_classes: int) -> np.ndarray:
        if self.params.answer == "posterior":  # type: ignore[attr-defined]
            return np.asarray(target.predict_proba(images), dtype=np.float32)
        return one_hot(np.asarray(target.predict(images)), num_classes)

    def _adaptive(
        self, target: Any, ctx: AttackContext, sets: QuerySets, spec: SurrogateSpec, base_recipe: Any,
        surrogate_seed: int,
    ) -> tuple[AdaptiveResult, ArraySplit]:
        params: KnockoffParams = self.params  # type: ignore[assignment]
        card = ctx.card
        num_classes = int(card.num_classes)  # type: ignore[arg-type]
        online = build_surrogate(spec, num_classes, seed=surrogate_seed, trainer=ctx.trainer)
        converted: dict[int, np.ndarray] = {}

        def images_at(positions: np.ndarray) -> np.ndarray:
            missing = [int(p) for p in positions if int(p) not in converted]
            if missing:
                for p, image in zip(missing, sets.take(np.asarray(missing)).images, strict=True):
                    converted[p] = image
            return np.stack([converted[int(p)] for p in positions])

        def query(positions: np.ndarray) -> np.ndarray:
            return self._answers_direct(target, images_at(positions), num_classes)

        def surrogate_probs(positions: np.ndarray) -> np.ndarray:
            return predict_proba(online, images_at(positions), card.input, ctx.device)  # type: ignore[arg-type]

        def learn(positions: np.ndarray, answers: np.ndarray) -> None:
            recipe = base_recipe.replace(steps=params.adaptive_steps, schedule="none",
                                         seed=derive_seed(surrogate_seed, "online", len(positions)))
            targets = _targets(answers, params.answer, params.temperature, params.smoothing)
            ctx.trainer.train_classifier(online, images_at(positions), **targets,
                                         input_spec=card.input, recipe=recipe, device=ctx.device)

        rng = np.random.default_rng(derive_seed(ctx.seed, "stealing-adaptive", sets.kind, sets.pool.dataset,
                                                sets.pool.split, len(sets.pool)))
        result = adaptive_sample(
            sets.pool.labels, params.budget, query=query, surrogate_probs=surrogate_probs, learn=learn, rng=rng,
            round_size=params.adaptive_round, lr=params.adaptive_lr, reward=params.adaptive_reward,
        )
        return result, sets.take(result.order)

    # --- training -----------------------------------------------------------------------------------

    def _budget_curve(
        self, spec: SurrogateSpec, card: ModelCard, queries: ArraySplit, answers: np.ndarray,
        evaluation: ArraySplit, target_labels: np.ndarray, base_recipe: Any, seed: int, ctx: AttackContext,
    ) -> list[dict[str, Any]]:
        """A surrogate per point of the budget curve, trained on a prefix of the queries; the last is the full one."""
        params: KnockoffParams = self.params  # type: ignore[assignment]
        curve: list[dict[str, Any]] = []
        for n in budget_points(len(queries), params.curve):
            module, report = self._train(spec, card, queries.images[:n], answers[:n], base_recipe, seed, ctx, params)
            labels = predict_labels(module, evaluation.images, card.input, ctx.device)  # type: ignore[arg-type]
            curve.append({"queries": n, **stealing_metrics(labels, target_labels, evaluation.labels),
                          "train_steps": report.steps, "train_seconds": report.seconds,
                          "final_loss": report.final_loss, "recipe_hash": report.recipe_hash})
            del module
        return curve

    @staticmethod
    def _train(
        spec: SurrogateSpec, card: ModelCard, images: np.ndarray, answers: np.ndarray, base_recipe: Any,
        seed: int, ctx: AttackContext, params: KnockoffParams,
    ) -> tuple[Any, Any]:
        steps = max(params.epochs * batches_per_epoch(len(images), params.batch_size), params.min_steps)
        recipe = base_recipe.replace(steps=steps)
        module = build_surrogate(spec, int(card.num_classes), seed=seed, trainer=ctx.trainer)  # type: ignore[arg-type]
        report = ctx.trainer.train_classifier(
            module, images, **_targets(answers, params.answer, params.temperature, params.smoothing),
            input_spec=card.input,
            recipe=recipe, device=ctx.device, description=f"surrogate on {len(images)} queries",
        )
        return module, report


def _targets(answers: np.ndarray, answer: str, temperature: float = 1.0, smoothing: float = 0.0
             ) -> dict[str, np.ndarray]:
    """Soft training targets, (1 - s) p + s / C: p is the posterior softened by the temperature, or the
    one-hot row of a label answer (then this is label smoothing, with the same gradient as cross-entropy
    with ``label_smoothing=s``)."""
    probs = np.asarray(answers, dtype=np.float64)
    if answer == "posterior":
        probs = soften(probs, temperature)
    probs = (1.0 - smoothing) * probs + smoothing / probs.shape[1]
    return {"soft_labels": probs.astype(np.float32)}


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T) renormalised: softmax(z / T) for posteriors p = softmax(z), computed from the posteriors alone.

    The top-1 label is unchanged; the classes a confident target nearly rules out get visible weight, which
    is what distillation at a temperature teaches a student (Hinton et al. 2015).
    """
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, 1e-30, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def batches_per_epoch(n: int, batch_size: int) -> int:
    """As the trainer counts them: a lone last example joins the previous batch."""
    batches = max(1, math.ceil(n / batch_size))
    return batches - 1 if n % batch_size == 1 and batches > 1 else batches


def budget_points(queries: int, fractions: tuple[float, ...]) -> list[int]:
    """Query counts of the budget curve: each fraction of the queries spent, at least one, without repeats."""
    return sorted({max(1, round(f * queries)) for f in fractions})
