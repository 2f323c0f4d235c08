"""Membership inference: given a record and a model, was the record in the model's training set?

Every attack here scores members and non-members of the same size from `ctx.membership` (members from
the split the model was trained on, non-members from a held-out split) and reports the metrics of
`securitynet.attacks.membership.metrics`.

Attacks (one family per module): ``mia.correctness`` (the gap attack, `correctness`); ``mia.confidence``,
``mia.entropy``, ``mia.modified_entropy``, ``mia.loss`` (`metric_attacks`); ``mia.mlp_sorted``,
``mia.mlp_top3``, ``mia.mlp_label`` (`learned`, shadow or partial threat model); ``mia.lira_online``,
``mia.lira_offline`` (`lira`); ``mia.rmia_online``, ``mia.rmia_offline`` (`rmia`); ``mia.label_noise``
(`label_only`). Shared pieces: `attack` (``MembershipAttack``, what every attack of the family declares),
`leave_one_out` (``ReferenceAttack``, LiRA's and RMIA's reference models and calibration), `sets`
(evaluation sets and the attacker population), `reference_choice` (which shadow/reference model imitates a
target), `reference_pool` and `reference_sets` (which images and seeds each model gets; the context's
``reference_models`` provider trains and caches them), `thresholds`, `report`, `params`.
"""

from securitynet.attacks.membership.quickstart import membership_quickstart_attacks

__all__ = ["membership_quickstart_attacks"]
