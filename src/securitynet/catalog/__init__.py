"""The catalog of public models: cards (metadata as data) and the sources that produce them."""

from securitynet.catalog.card import (
    BackdoorInfo,
    InputSpec,
    ModelCard,
    PaperInfo,
    PublishedAnnotation,
    WeightsSpec,
)

__all__ = ["BackdoorInfo", "InputSpec", "ModelCard", "PaperInfo", "PublishedAnnotation", "WeightsSpec"]
