"""What every backdoor detector stores per model, and which of it a reader looks at first.

Per model: ``score`` (higher means "backdoored"), ``flagged`` (0/1, where the detector gives a verdict), and
where it names one ``suspected_target`` and ``target_hit`` (1 when the suspected label is the card's true
target, None when that is unknown). Model-level AUROC, TPR/FPR and target-hit rate over a set of models are
analysis's (``securitynet.analysis.stats.backdoor_detection``, from the stored results and each detector's
declared score metrics), recomputed for any selection of models.
"""

from __future__ import annotations

# What a reader looks at first in a backdoor-detection result: the verdict, its score, the label it names.
HEADLINE_METRICS = ("flagged", "score", "suspected_target")
