"""Errors the system raises for bad input: each names the thing and what is wrong with it."""


class SecurityNetError(Exception):
    """Base class: a clear, user-facing error."""


class CardError(SecurityNetError):
    """A model card is malformed or refers to something that does not exist."""


class UnknownModelError(SecurityNetError):
    """No card with this id is in the catalog."""


class WeightsError(SecurityNetError):
    """A weight file cannot be fetched, verified or loaded."""


class ChecksumError(WeightsError):
    """A downloaded or mirrored file does not have the expected hash."""


class UnsafeWeightsError(WeightsError):
    """A weight file would execute code when loaded, or escapes its folder."""


class DatasetError(SecurityNetError):
    """A dataset is unknown, absent or malformed."""


class ShapeError(SecurityNetError):
    """A model's output does not fit what its card promises."""


class TableFormatError(SecurityNetError):
    """A published table cannot be parsed."""


class TrainingError(SecurityNetError):
    """A training recipe or training data is invalid, or training diverged."""


class QueryError(SecurityNetError):
    """A model query (id, glob or key=value filters) is malformed."""
