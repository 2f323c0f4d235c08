"""SecurityNet: measure how vulnerable public machine-learning models are."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("securitynet")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "evaluate", "load"]


def load(card_id: str, **kwargs):
    """Load a catalogued model as a `TargetModel` (weights fetched, verified and loaded safely)."""
    from securitynet.zoo.loader import load_target

    return load_target(card_id, **kwargs)


def evaluate(models, attacks, **kwargs):
    """Run attacks on models and return the long-form results frame (see `securitynet.engine.run.evaluate`)."""
    from securitynet.engine.run import evaluate as run_evaluate

    return run_evaluate(models, attacks, **kwargs)
