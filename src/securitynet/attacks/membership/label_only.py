"""Label-only membership attacks, for targets that answer with the top-1 label alone.

- The **gap attack** (Yeom et al. 2018; named so by Choquette-Choo et al. 2021) calls a record a member
  iff the model classifies it correctly. It is ``mia.correctness`` (`correctness.py`), label access, and
  is not registered twice.
- ``mia.label_noise``: the decision-boundary attack of Choquette-Choo et al., "Label-Only Membership
  Inference Attacks" (ICML 2021), in its noise-robustness form. Training points sit farther from the
  decision boundary than unseen points, and the distance is estimated without any gradient or posterior
  by querying the label of Gaussian-perturbed copies: for each noise level sigma (in units of the pixel
  range) ``draws`` noisy copies are classified, and the score is the fraction classified correctly. As
  in the paper, a record that is misclassified without noise is at distance 0: its score is 0, and every
  correctly classified record scores 1 + its noisy accuracy, so the attack refines the gap attack and
  never ranks a misclassified record above a correct one.

  Noise is added to the uint8 image (x + sigma * 255 * N(0, 1), rounded and clipped to 0..255, the
  target's own input range), drawn from the job's seeded generator. The threshold for
  ``accuracy_at_threshold`` comes from the same attack run against shadow models (their own training
  data vs held-out population data) or from a known labelled fraction of the target's records.
  Queries to the target are counted by the engine (records x (1 + levels x draws)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from securitynet.attacks.base import AttackContext, AttackError, AttackResult
from securitynet.attacks.membership import thresholds as th
from securitynet.attacks.membership.attack import MembershipAttack
from securitynet.attacks.membership.params import ThresholdParams, offline_set, sets_for
from securitynet.attacks.membership.report import membership_result
from securitynet.attacks.membership.sets import split_known
from securitynet.attacks.registry import register_attack


def noisy_copies(images: np.ndarray, sigma: float, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` Gaussian-perturbed uint8 copies of every image, image-major: (N * draws, ...)."""
    base = np.repeat(np.asarray(images, dtype=np.float32), draws, axis=0)
    noise = rng.standard_normal(base.shape, dtype=np.float32) * np.float32(sigma * 255.0)
    return np.clip(np.rint(base + noise), 0, 255).astype(np.uint8)


def noise_robustness_scores(
    predict: Any, images: np.ndarray, labels: np.ndarray, sigmas: tuple[float, ...], draws: int,
    rng: np.random.Generator, batch: int = 4096,
) -> np.ndarray:
    """0 for misclassified records, else 1 + the fraction of noisy copies still classified correctly."""
    labels = np.asarray(labels)
    correct = predict(images) == labels
    robust = np.zeros(len(images), dtype=np.float64)
    per_chunk = max(1, batch // max(draws, 1))
    for sigma in sigmas:
        for start in range(0, len(images), per_chunk):
            chunk = images[start : start + per_chunk]
            noisy = noisy_copies(chunk, sigma, draws, rng)
            hits = (predict(noisy) == np.repeat(labels[start : start + per_chunk], draws)).reshape(len(chunk), draws)
            robust[start : start + len(chunk)] += hits.mean(axis=1)
    robust /= max(len(sigmas), 1)
    return np.where(correct, 1.0 + robust, 0.0)


class LabelNoiseParams(ThresholdParams):
    n: int = Field(500, ge=2, description="evaluation members, and as many non-members")
    sigmas: tuple[float, ...] = Field((0.02, 0.05, 0.1, 0.2), description="noise levels, in units of the pixel range")
    draws: int = Field(8, ge=1, description="noisy copies per record and noise level")


@register_attack
class LabelNoiseAttack(MembershipAttack):
    name = "mia.label_noise"
    version = "1"
    access = "label"
    description = "label-only decision-boundary distance from Gaussian-noise robustness (Choquette-Choo et al. 2021)"
    Params = LabelNoiseParams

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: LabelNoiseParams = self.params  # type: ignore[assignment]
        if any(s <= 0 for s in params.sigmas) or not params.sigmas:
            raise AttackError(f"sigmas must be positive noise levels, got {params.sigmas}")
        sets = sets_for(ctx, params)
        evaluated = sets
        if params.threshold_source == "partial":
            known, evaluated = split_known(ctx, sets, params.known_fraction)

        def score(predict: Any, data: Any) -> np.ndarray:
            return noise_robustness_scores(predict, data.images, data.labels, params.sigmas, params.draws, ctx.rng)

        scores = np.concatenate([score(target.predict, s) for s in (evaluated.members, evaluated.nonmembers)])
        if params.threshold_source == "none":
            return membership_result(ctx, scores, evaluated, no_threshold_reason="threshold_source is 'none'")
        if params.threshold_source == "partial":
            attacker_scores = np.concatenate([score(target.predict, s) for s in (known.members, known.nonmembers)])
            _, _, attacker_member = known.combined()
        else:
            shadows = offline_set(ctx, params, sets, params.n_shadow)
            samples = [shadows.balanced_sample(sets.population, row) for row in range(len(shadows))]
            # Shadow models are the attacker's own: queried directly, not through the target's counter.
            pairs = zip(shadows.models, samples, strict=True)
            attacker_scores = np.concatenate([score(m.target.predict, s) for m, s in pairs])
            attacker_member = np.concatenate([shadows.trained_on(s)[row] for row, s in enumerate(samples)])
        threshold = th.best_threshold(attacker_scores, attacker_member)
        return membership_result(
            ctx, scores, evaluated, decisions=th.decide(scores, threshold),
            threshold={"source": params.threshold_source, "value": th.describe_thresholds(threshold)},
            data={"label_noise": {"sigmas": list(params.sigmas), "draws": params.draws}},
        )
