"""Model stealing metrics (docs/architecture.md): one implementation, used by the attack and the benchmark.

- ``accuracy``: fraction of held-out images the surrogate labels correctly;
- ``agreement``: fraction of held-out images on which surrogate and target predict the same label.
"""

from __future__ import annotations

import numpy as np

# What a reader looks at first in a stealing result (the Attack classes declare it).
HEADLINE_METRICS = ("agreement", "accuracy")


def stealing_metrics(
    surrogate_labels: np.ndarray, target_labels: np.ndarray, true_labels: np.ndarray
) -> dict[str, float]:
    """Accuracy and agreement of a surrogate on the same held-out images."""
    surrogate_labels = np.asarray(surrogate_labels)
    target_labels = np.asarray(target_labels)
    true_labels = np.asarray(true_labels)
    if not (surrogate_labels.shape == target_labels.shape == true_labels.shape) or surrogate_labels.ndim != 1:
        raise ValueError(
            f"need one label per held-out image from surrogate, target and truth; got shapes "
            f"{surrogate_labels.shape}, {target_labels.shape}, {true_labels.shape}"
        )
    if len(surrogate_labels) == 0:
        raise ValueError("no held-out images to measure a stolen model on")
    return {
        "accuracy": float(np.mean(surrogate_labels == true_labels)),
        "agreement": float(np.mean(surrogate_labels == target_labels)),
    }
