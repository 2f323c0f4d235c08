"""Reading an attack's stored declaration (the attacks table): rules shared by analysis and serving, which may
not import each other."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def declared_headline(headline_metrics: Sequence[str], score_metrics: Sequence[str],
                      present: Iterable[str]) -> str | None:
    """The metric that stands for a declared attack when attacks are compared or ranked, among the metrics it
    stored (``present``): its first headline metric that is also a score, else its first headline metric, else
    its first score metric; None when it stored none of them."""
    stored = set(present)
    preference = [*(m for m in headline_metrics if m in score_metrics), *headline_metrics, *score_metrics]
    return next((m for m in preference if m in stored), None)
