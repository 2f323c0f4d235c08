"""The output guard: a model's raw outputs are checked against its card before any posterior is made of them.

A measurement built on NaN posteriors, or on logits read as probabilities, is a wrong number stored as a
measurement; so every batch a target answers passes through `check_outputs` first, and a batch that fails
stops the job with one line naming the model, the check and what was seen. Nothing is clamped or
renormalised into shape: rounding is the only slack allowed.
"""

from __future__ import annotations

import torch

from securitynet.catalog.card import ModelCard
from securitynet.errors import OutputCheckError
from securitynet.zoo.heads import is_binary_head

# How far a row of probabilities may stray from summing to one, and a value from [0, 1], by rounding alone.
_TOLERANCE = {torch.float16: 1e-2, torch.bfloat16: 2e-2}
_DEFAULT_TOLERANCE = 1e-3
# Output kinds whose width is the card's number of classes.
_ONE_COLUMN_PER_CLASS = ("logits", "probabilities", "log_probabilities")


def check_outputs(outputs: torch.Tensor, card: ModelCard) -> None:
    """Raise OutputCheckError unless ``outputs`` (a batch of raw module outputs) fit what ``card`` declares."""
    problem = output_problem(outputs.detach(), card.output_kind, card.num_classes)
    if problem is not None:
        raise OutputCheckError(f"model {card.id}: {problem}")


def output_problem(outputs: torch.Tensor, output_kind: str, num_classes: int | None) -> str | None:
    """What is wrong with a batch of raw outputs, as "<check failed> (<what was seen>)", or None when fine."""
    if outputs.ndim != 2:
        return f"outputs are not one row per image (shape {tuple(outputs.shape)})"
    rows, width = outputs.shape
    if num_classes and output_kind in _ONE_COLUMN_PER_CLASS and width != num_classes:
        return f"output width is not the card's num_classes ({width} columns, num_classes {num_classes})"
    if is_binary_head(output_kind) and width != 1:
        return f"output_kind {output_kind} declares one output unit, the model returns {width} columns"
    if not outputs.is_floating_point():
        return f"outputs are not floating point ({outputs.dtype})"
    values = outputs.float()
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        nan = int(torch.isnan(values).sum())
        infinite = int((~finite).sum()) - nan
        seen = " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{infinite} infinite" if infinite else "")
                            if part)
        return f"outputs are not finite ({seen} of {values.numel()} values in a batch of {rows} images)"
    tolerance = _TOLERANCE.get(outputs.dtype, _DEFAULT_TOLERANCE)
    hint = "; if the model returns logits, set output_kind: logits in its card"
    if output_kind == "probabilities":
        low, high = float(values.min()), float(values.max())
        if low < -tolerance or high > 1 + tolerance:
            return f"declared probabilities are outside [0, 1] (values from {low:.4g} to {high:.4g}){hint}"
        sums = values.sum(dim=1)
        if float((sums - 1).abs().max()) > tolerance:
            return (
                f"declared probabilities do not sum to 1 (rows sum to {float(sums.min()):.4g} "
                f"to {float(sums.max()):.4g}){hint}"
            )
    elif output_kind == "binary_probability":
        low, high = float(values.min()), float(values.max())
        if low < -tolerance or high > 1 + tolerance:
            return (
                f"declared binary probabilities are outside [0, 1] (values from {low:.4g} to {high:.4g}); "
                "if the unit is a logit, set output_kind: binary_logit in its card"
            )
    elif output_kind == "log_probabilities":
        high = float(values.max())
        if high > tolerance:
            return f"declared log-probabilities are above 0 (up to {high:.4g}){hint}"
        sums = torch.logsumexp(values, dim=1).exp()
        if float((sums - 1).abs().max()) > tolerance:
            return (
                f"declared log-probabilities do not sum to 1 as probabilities (rows sum to {float(sums.min()):.4g} "
                f"to {float(sums.max()):.4g}){hint}"
            )
    return None
