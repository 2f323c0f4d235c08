"""The membership attacks `make run` (``securitynet quickstart``) runs, with parameters sized for 2 CPU cores."""

from __future__ import annotations

from typing import Any

METRIC_ATTACKS = ("mia.correctness", "mia.confidence", "mia.entropy", "mia.modified_entropy", "mia.loss")
LEARNED_ATTACKS = ("mia.mlp_sorted", "mia.mlp_top3", "mia.mlp_label")
# Small N: the digits zoo's reference models train in about a second each.
QUICKSTART_REFERENCES = 8
QUICKSTART_N = 500


def membership_quickstart_attacks(*, train_models: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(attack, params) pairs for the quickstart.

    ``train_models=True`` (the default; meant for the digits zoo, whose models train in seconds): the
    metric attacks with thresholds from a shadow model, the learned attacks in both threat models, and
    LiRA online and offline with 8 reference models. ``train_models=False`` (the public MNIST models,
    whose architectures cost a minute or more per shadow model on 2 cores): the same metric and learned
    attacks in the partial-knowledge setting only, which trains no model.
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
        for name in ("mia.lira_online", "mia.lira_offline"):
            pairs.append((name, {**common, "n_reference": QUICKSTART_REFERENCES}))
    return pairs
