"""Target views by access level: an attack gets exactly what its declared access allows, and its queries are counted."""

from __future__ import annotations

from typing import Any

import numpy as np

from securitynet.attacks.base import AccessError
from securitynet.catalog.card import ModelCard
from securitynet.zoo.target import TargetModel


class LabelOnlyTarget:
    """The label-only black box: top-1 labels, nothing else."""

    access = "label"

    def __init__(self, model: TargetModel) -> None:
        self._model = model
        self.queries = 0

    @property
    def card(self) -> ModelCard:
        return self._model.card

    @property
    def id(self) -> str:
        return self._model.id

    @property
    def num_classes(self) -> int | None:
        return self._model.num_classes

    def predict(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        self.queries += len(images)
        return self._model.predict(images, batch_size)

    def predict_proba(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        raise AccessError(f"a {self.access}-access attack cannot read posteriors of {self.id}")

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the view does not define: module, forward_tensor, preprocess...
        if name.startswith("_"):
            raise AttributeError(name)
        raise AccessError(f"a {self.access}-access attack cannot use {name!r} of target {self._model.id}")


class PosteriorTarget(LabelOnlyTarget):
    """The black box with posteriors: predict_proba and predict, no module."""

    access = "posterior"

    def predict_proba(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        self.queries += len(images)
        return self._model.predict_proba(images, batch_size)


def view_for(model: TargetModel, access: str) -> Any:
    """What an attack of this access level receives: a counted view, or the model itself for white box."""
    if access == "label":
        return LabelOnlyTarget(model)
    if access == "posterior":
        return PosteriorTarget(model)
    if access == "white-box":
        return model.white_box()
    raise AccessError(f"unknown access level {access!r}")


def access_problem(card: ModelCard, access: str) -> str | None:
    """Why this model cannot be given to an attack of this access level, known before any job runs; None if it can.

    Only a white box can be missing: an ONNX graph that onnx2torch does not convert is a black box only.
    """
    if access != "white-box" or card.weights.format != "onnx":
        return None
    from securitynet.zoo.onnx_target import white_box_problem

    problem = white_box_problem(card)
    return f"no white box: {problem}" if problem else None


def unwrap(target: Any) -> TargetModel:
    """The TargetModel behind a view (the engine's own use: the posterior cache)."""
    if isinstance(target, LabelOnlyTarget):
        return target._model
    if isinstance(target, TargetModel):
        return target
    raise TypeError(f"expected a target model or a view of one, got {type(target).__name__}")


def count_queries(target: Any, n: int) -> None:
    if isinstance(target, LabelOnlyTarget):
        target.queries += n


def queries_of(target: Any) -> int | None:
    return target.queries if isinstance(target, LabelOnlyTarget) else None
