"""timm architectures, built without weights: `timm:<name>` on a card, where name is an architecture or a
pretrained tag (`resnet18.a1_in1k`; its pretrained config then sets defaults such as a ViT's image size)."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from securitynet.errors import CardError


def build_timm_model(name: str, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
    """`timm.create_model(name, pretrained=False, ...)`: never downloads; weights are loaded by the zoo loader.

    kwargs may hold a `pretrained_cfg` mapping (a Hub repo's config.json) and the architecture's model args.
    """
    import timm

    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        return timm.create_model(name, pretrained=False, **kwargs)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise CardError(f"timm {timm.__version__} has no model {name!r}") from None
        raise
