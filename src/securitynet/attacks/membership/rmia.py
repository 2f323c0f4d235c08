"""RMIA, the Relative Membership Inference Attack (Zarifzadeh et al., "Low-Cost High-Power Membership
Inference Attacks", ICML 2024).

For a candidate x and population samples z, with Pr(.|theta) the target's posterior of the true class:

    LR(x, z) = (Pr(x|theta) / Pr(x)) / (Pr(z|theta) / Pr(z)),   score(x) = Pr_z[ LR(x, z) >= gamma ],

where Pr(x) is the probability averaged over reference models trained on random population data:

- **online**: Pr(x) = (mean over IN models + mean over OUT models) / 2, every candidate being IN for half
  of the reference models (the same online reference models as LiRA online);
- **offline**: only OUT models exist; with the paper's linear approximation Pr_IN ~ a Pr_OUT + (1 - a),
  Pr(x) = ((1 + a) mean_OUT + (1 - a)) / 2. ``a`` is the offline parameter (the paper tunes it per
  dataset on reference models; 0.3 by default here, between its CIFAR and image-net values).

Pr(z) is estimated exactly like Pr(x), from the reference models' outputs on z and which of them trained on
z (population images serve as z; offline reference models are trained on the population too, so each z
uses the models that left it out, as the paper's implementation does). The z samples are a seeded subset
of the attacker population, ``n_population_z`` of them.

``accuracy_at_threshold``: the threshold on the score is chosen on attacker-known data only, by attacking
reference model 0 with the others as references (leave one out), as for LiRA.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from securitynet.attacks.base import AttackContext, AttackError, AttackResult
from securitynet.attacks.membership.leave_one_out import ReferenceAttack, signal_matrix
from securitynet.attacks.membership.metric_attacks import confidence
from securitynet.attacks.membership.params import LeaveOneOutParams
from securitynet.attacks.membership.sets import derive_seed
from securitynet.attacks.registry import register_attack


def marginal_probability(
    reference_p: np.ndarray, reference_in: np.ndarray, *, online: bool, a: float
) -> np.ndarray:
    """Pr(x) per record from the reference models' true-class probabilities (models, records).

    Online: the mean of the IN mean and the OUT mean; a record without IN models (or offline) uses the
    linear approximation ((1 + a) mean_OUT + (1 - a)) / 2. Records without OUT models get NaN.
    """
    reference_p = np.asarray(reference_p, dtype=np.float64)
    reference_in = np.asarray(reference_in, dtype=bool)
    out_count = (~reference_in).sum(axis=0)
    in_count = reference_in.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_out = np.where(~reference_in, reference_p, 0.0).sum(axis=0) / out_count
        mean_in = np.where(reference_in, reference_p, 0.0).sum(axis=0) / in_count
    approx = 0.5 * ((1.0 + a) * mean_out + (1.0 - a))
    if not online:
        return approx
    return np.where(in_count > 0, 0.5 * (mean_in + mean_out), approx)


def rmia_scores(
    target_px: np.ndarray,
    marginal_px: np.ndarray,
    target_pz: np.ndarray,
    marginal_pz: np.ndarray,
    gamma: float = 1.0,
) -> np.ndarray:
    """Fraction of z with LR(x, z) >= gamma, for every x (O((n + k) log k) by sorting the z ratios)."""
    ratio_x = np.asarray(target_px, float) / np.asarray(marginal_px, float)
    ratio_z = np.asarray(target_pz, float) / np.asarray(marginal_pz, float)
    ratio_z = np.sort(ratio_z[np.isfinite(ratio_z)])
    if ratio_z.size == 0:
        raise AttackError("RMIA needs population samples z with a finite probability ratio")
    # LR(x, z) >= gamma  <=>  ratio_z <= ratio_x / gamma
    return np.searchsorted(ratio_z, ratio_x / gamma, side="right") / ratio_z.size


class RmiaParams(LeaveOneOutParams):
    a: float = Field(0.3, ge=0.0, le=1.0, description="offline approximation Pr_IN ~ a Pr_OUT + (1 - a)")
    gamma: float = Field(1.0, gt=0.0, description="likelihood-ratio threshold of the pairwise test")
    n_population_z: int = Field(2000, ge=10, description="population samples z (capped by the population)")


class _Rmia(ReferenceAttack):
    Params = RmiaParams

    def run(self, target: Any, ctx: AttackContext) -> AttackResult:
        params: RmiaParams = self.params  # type: ignore[assignment]
        sets, candidates, references = self._references(ctx, params)
        population = sets.population
        k = min(params.n_population_z, len(population))
        rng = np.random.default_rng(derive_seed(ctx.seed, ctx.card.dataset, k, "rmia-z"))
        z = population.subset(np.sort(rng.choice(len(population), size=k, replace=False)))
        ctx.record("rmia_z", {"split": z.split, "n": len(z), "indices": np.asarray(z.indices).tolist()})

        models = [m.target for m in references.models]
        ref_px = signal_matrix(ctx, models, candidates, confidence)
        ref_pz = signal_matrix(ctx, models, [z], confidence)
        in_x = np.concatenate([references.trained_on(s) for s in candidates], axis=1)
        in_z = references.trained_on(z)
        target_px = signal_matrix(ctx, [target], candidates, confidence)[0]
        target_pz = signal_matrix(ctx, [target], [z], confidence)[0]
        scores = self._scores(target_px, ref_px, in_x, target_pz, ref_pz, in_z, params)

        # Online: the candidates (model 0 trained on half of them). Offline: model 0's training images and as
        # many other population images outside the z sample.
        def calibration() -> list[Any]:
            return candidates if self.online else [references.balanced_sample(population, 0, avoid=z.indices)]

        def threshold() -> float:
            return self._leave_one_out_threshold(
                ctx, references, calibration, confidence,
                lambda px, others_px, others_in: self._scores(px, others_px, others_in, ref_pz[0], ref_pz[1:],
                                                              in_z[1:], params),
            )

        data = {"rmia": {"online": self.online, "a": params.a, "gamma": params.gamma, "n_z": len(z),
                         "n_reference": len(references)}}
        return self._result(ctx, scores, sets, params, threshold, data)

    def _scores(
        self, target_px: np.ndarray, ref_px: np.ndarray, in_x: np.ndarray,
        target_pz: np.ndarray, ref_pz: np.ndarray, in_z: np.ndarray, params: RmiaParams,
    ) -> np.ndarray:
        marginal_x = marginal_probability(ref_px, in_x, online=self.online, a=params.a)
        marginal_z = marginal_probability(ref_pz, in_z, online=self.online, a=params.a)
        if not np.isfinite(marginal_x).all():
            raise AttackError("some candidates have no OUT reference model (too few reference models)")
        return rmia_scores(target_px, marginal_x, target_pz, marginal_z, params.gamma)


@register_attack
class RmiaOnline(_Rmia):
    name = "mia.rmia_online"
    version = "1"
    online = True
    description = "RMIA online: pairwise likelihood ratios against population samples (Zarifzadeh et al. 2024)"


@register_attack
class RmiaOffline(_Rmia):
    name = "mia.rmia_offline"
    version = "1"
    online = False
    description = "RMIA offline with the linear approximation parameter a (Zarifzadeh et al. 2024)"
