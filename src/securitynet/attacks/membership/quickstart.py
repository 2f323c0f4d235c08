"""The membership attacks `make run` (``securitynet quickstart``) runs, with parameters sized for 2 CPU cores."""

from __future__ import annotations

from typing import Any

METRIC_ATTACKS = ("mia.correctness", "mia.confidence", "mia.entropy", "mia.modified_entropy", "mia.loss")
LEARNED_ATTACKS = ("mia.mlp_sorted", "mia.mlp_top3", "mia.mlp_label")
# Small N: 4 online reference models per zoo model (2 IN and 2 OUT per record, global variance) already put
# LiRA far above the metric attacks at low FPR on the overfitted zoo models, for 4 extra trainings per model.
QUICKSTART_REFERENCES = 4
QUICKSTART_N = 500


def membership_quickstart_attacks(*, train_models: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(attack, params) pairs for the quickstart.

    ``train_models=True`` (the default; meant for the digits zoo, whose models train in seconds): the
    metric attacks with thresholds from a shadow model, the learned attacks in both threat models, and
    LiRA online with 4 reference models (``mia.lira_offline`` and RMIA are left to explicit runs).
    ``train_models=False`` (the public MNIST models, whose architectures cost a minute or more per shadow
    model on 2 cores): the same metric and learned attacks in the partial-knowledge setting only, which
    trains no model.
    """
    common: dict[str, Any] = {"n": QUICKSTART_N}
    pairs: list[tuple[str, dict[str, Any]]] = [("mia.correctness", dict(common))]
    source = "shadow" if train_models else "partial"
    for name in METRIC_ATTACKS[1:]:
        pairs.append((name, {**common, "threshold_source": source}))
    for name in LEARNED_ATTACKS:
        if train_models:
            pairs.append((name, {**common, "threat_model": "shadow"}))
        pairs.append((name, {**common, "threat_model": "partial"}))
    if train_models:
        pairs.append(("mia.lira_online", {**common, "n_reference": QUICKSTART_REFERENCES}))
    return pairs
