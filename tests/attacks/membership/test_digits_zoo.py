"""On the self-trained digits zoo: metric attacks track overfitting, and LiRA beats them at low FPR."""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy.stats import spearmanr

from securitynet.attacks import get_attack
from securitynet.engine.access import view_for
from securitynet.engine.cache import PosteriorCache
from securitynet.engine.context import JobContext
from securitynet.zoo.digits_zoo import build_digits_zoo, measure_gaps
from securitynet.zoo.loader import load_target

METRIC_ATTACKS = ("mia.confidence", "mia.entropy", "mia.modified_entropy", "mia.loss")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    """The full digits zoo in a private home, its measured gaps, and a private cache for reference models."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("mia-zoo")
        patch.setenv("SECURITYNET_HOME", str(root / "home"))
        patch.setenv("SECURITYNET_CACHE", str(root / "cache"))
        cards = build_digits_zoo(size="full", progress=False, device="cpu")
        gaps = {row.model_id: row.overfit_gap for row in measure_gaps(cards, device="cpu")}
        yield root, cards, gaps


def _run(name: str, card, root: Path, params: dict) -> dict:
    cls = get_attack(name)
    ctx = JobContext.standalone(card, seed=0, access=cls.access, device="cpu",
                                cache=PosteriorCache(root / "posteriors"), artifacts_root=root / "artifacts")
    target = load_target(card, device="cpu")
    return cls(params).run(view_for(target, cls.access), ctx).metrics


@pytest.mark.slow
def test_metric_attack_auc_rises_with_the_overfitting_gap(zoo) -> None:
    root, cards, gaps = zoo
    assert max(gaps.values()) - min(gaps.values()) > 0.1  # the zoo spans a real range of overfitting
    for name in METRIC_ATTACKS:
        aucs = [_run(name, card, root, {"threshold_source": "none"})["auc"] for card in cards]
        rho = spearmanr(aucs, [gaps[c.id] for c in cards]).statistic
        assert rho > 0.7, f"{name}: Spearman {rho:.2f} between AUC and overfitting gap"


@pytest.mark.slow
def test_lira_online_beats_every_metric_attack_at_low_fpr_on_the_most_overfitted_model(zoo) -> None:
    root, cards, gaps = zoo
    card = max(cards, key=lambda c: gaps[c.id])
    metric_tprs = [_run(name, card, root, {"threshold_source": "none"})["tpr_at_1pct_fpr"] for name in METRIC_ATTACKS]
    best_metric = max(*metric_tprs, _run("mia.correctness", card, root, {})["tpr_at_1pct_fpr"])
    lira = _run("mia.lira_online", card, root, {"n_reference": 16})
    assert lira["tpr_at_1pct_fpr"] > best_metric, (card.id, lira, best_metric)
    assert lira["auc"] > 0.75
