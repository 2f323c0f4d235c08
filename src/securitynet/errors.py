"""Errors the system raises for bad input: each names the thing and what is wrong with it."""


def first_line(exc: BaseException) -> str:
    """The first line of an error message (library errors can run to pages), or the error's type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


class TableRowsError(TableFormatError):
    """Rows of a table have problems; `problems` describes each (with its line), the message all of them."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:
            self.summary = f"{source}: a row problem, nothing imported"
            message = f"{source}, {self.problems[0]}"
        else:
            self.summary = f"{source}: {len(self.problems)} row problems, nothing imported"
            message = f"{self.summary}: " + "; ".join(self.problems)
        super().__init__(message)


class OutputCheckError(ShapeError):
    """A model's outputs cannot be trusted as posteriors: not finite, wrong width, or not what its card declares."""


class StoreError(SecurityNetError):
    """The database cannot be used: not a database, cannot be opened, unreachable, or not this program's."""


class WhiteBoxUnavailableError(SecurityNetError):
    """A target answers queries, but no differentiable module of it exists (an ONNX graph onnx2torch cannot convert)."""


class CardCheckError(CardError):
    """A card does not describe its real model: it does not build, its weights do not fit, or its outputs are not
    what it declares (checked on a probe batch before the card is stored)."""


class DeviceError(SecurityNetError):
    """A torch device that cannot be used: not cpu / cuda / cuda:N, absent on this machine or cluster, or a GPU
    request that contradicts the device (checked once, before any job starts)."""


class PluginError(SecurityNetError):
    """A plug-in (an entry point in one of the `securitynet.*` groups) names something its group cannot use."""


class PluginConflictError(PluginError):
    """Two plug-ins claim one name: an entry point name in a group, or a registered attack, dataset or architecture."""
