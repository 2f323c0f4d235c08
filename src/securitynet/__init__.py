"""SecurityNet: measure how vulnerable public machine-learning models are."""

import warnings

from securitynet.version import __version__

# timm 1.0.9 (the version robustbench 1.1.1 pins) decorates a module with `torch.jit.interface`, which torch 2.14
# deprecates: importing timm printed a FutureWarning about timm's code on every command that lists the catalog.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.interface` is deprecated", category=FutureWarning)


__all__ = ["__version__", "evaluate", "load", "results"]


def load(card_id: str, **kwargs):
    """Load a catalogued model as a `TargetModel` (weights fetched, verified and loaded safely).

    The card is looked up in the database (`SECURITYNET_DB`, or pass `store=`) first, then in the built-in catalog.
    """
    from securitynet.zoo.loader import load_target

    if "store" not in kwargs:
        from securitynet.store import Store

        kwargs["store"] = Store()
    return load_target(card_id, **kwargs)


def evaluate(models, attacks, **kwargs):
    """Run attacks on models and return the long-form results frame (see `securitynet.engine.run.evaluate`)."""
    from securitynet.engine.run import evaluate as run_evaluate

    return run_evaluate(models, attacks, **kwargs)


def results(models=None, attacks=None, *, seeds="mean", all_metrics=False, published=True, db=None):
    """The stored measurements as a pandas DataFrame: one row per model x attack variant (x seed).

    ``models``: a model query like ``evaluate``'s (``'file/*'``, ``'dataset=mnist'``), a list of ids, or
    None for every model; ``attacks``: globs (``'mia.*'``, comma separated or a list), None for all;
    ``seeds``: ``'mean'`` (averaged, with ``n_seeds``) or ``'all'`` (one row per seed); the attacks'
    headline metrics unless ``all_metrics``; ``published_<metric>`` columns beside the measured ones;
    ``db``: a `Store` or its URL (default: the configured store). See `securitynet.analysis.results`.
    """
    from securitynet.analysis.results import results_table, split_globs
    from securitynet.attacks import headline_metrics_by_attack
    from securitynet.catalog.query import select_cards
    from securitynet.store import Store

    store = db if isinstance(db, Store) else Store(db)
    if isinstance(models, str):
        model_ids = [card.id for card in select_cards(models, store)]
    else:
        model_ids = None if models is None else list(models)
    return results_table(store, model_ids, split_globs(attacks), seeds=seeds, headline=headline_metrics_by_attack(),
                         all_metrics=all_metrics, published=published)
