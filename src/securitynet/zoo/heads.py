"""Output heads: a model's raw outputs, whatever its card's `output_kind`, as posteriors over its classes.

Most classifiers output one value per class (logits, probabilities or log-probabilities). A two-class
classifier often has a single output unit instead: the logit z of the positive class 1 (p = sigmoid(z),
`binary_logit`) or that probability p itself (`binary_probability`). Such a model is seen everywhere as
the two-class posteriors [1 - p, p], so every attack treats it exactly like a model with two outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from securitynet.errors import ShapeError

BINARY_KINDS: tuple[str, ...] = ("binary_logit", "binary_probability")


def is_binary_head(output_kind: str) -> bool:
    """Whether the kind is a single output unit of a two-class task."""
    return output_kind in BINARY_KINDS


def output_width(output_kind: str, num_classes: int | None) -> int | None:
    """How many values per image the model itself returns: 1 for a binary head, else one per class."""
    return 1 if is_binary_head(output_kind) else num_classes


def _single_unit(outputs: torch.Tensor, output_kind: str) -> torch.Tensor:
    """(N, 1) or (N,) raw outputs -> (N,) float values of the one unit."""
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return outputs[:, 0].float()
    if outputs.ndim == 1:
        return outputs.float()
    raise ShapeError(f"output_kind {output_kind} expects one output unit per image, got shape {tuple(outputs.shape)}")


def posteriors(outputs: torch.Tensor, output_kind: str) -> torch.Tensor:
    """Raw outputs -> (N, C) probabilities (C = 2 for a binary head)."""
    if output_kind == "binary_logit":
        z = _single_unit(outputs, output_kind)
        # sigmoid(-z) rather than 1 - sigmoid(z): exact for large z, where the difference rounds to 0.
        return torch.stack([torch.sigmoid(-z), torch.sigmoid(z)], dim=1)
    if output_kind == "binary_probability":
        p = _single_unit(outputs, output_kind).clamp(0.0, 1.0)
        return torch.stack([1.0 - p, p], dim=1)
    if output_kind == "logits":
        return torch.softmax(outputs.float(), dim=1)
    if output_kind == "log_probabilities":
        return torch.exp(outputs.float())
    # Probabilities already (the output guard, zoo.output_check, refused anything but rounding away from that);
    # renormalise the rounding away so rows sum to one.
    probs = outputs.float().clamp_min(0)
    return probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-12)


def log_posteriors(outputs: torch.Tensor, output_kind: str) -> torch.Tensor:
    """Raw outputs -> (N, C) log-probabilities, differentiable (for white-box attacks and training).

    Log-probabilities are valid logits too, so a model of any kind trained through this (a surrogate of the
    target's own architecture, a shadow model) learns with the usual cross-entropy losses.
    """
    if output_kind == "binary_logit":
        z = _single_unit(outputs, output_kind)
        return torch.stack([F.logsigmoid(-z), F.logsigmoid(z)], dim=1)
    if output_kind == "binary_probability":
        p = _single_unit(outputs, output_kind)
        return torch.log(torch.stack([1.0 - p, p], dim=1).clamp_min(1e-12))
    if output_kind == "logits":
        return F.log_softmax(outputs.float(), dim=1)
    if output_kind == "log_probabilities":
        return outputs.float()
    return torch.log(outputs.float().clamp_min(1e-12))
