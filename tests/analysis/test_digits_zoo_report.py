"""End to end on real stored results: the digits zoo trained, annotated and attacked through the engine,
then reported. The paper's central relation must show: membership AUC rises with the overfit gap."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

MEMBERS = 60  # the subset-trained zoo models saw 60 images: members cannot outnumber them
ATTACKS = ("mia.correctness", "mia.modified_entropy")  # the paper's Correct and M_entropy attacks


@pytest.fixture(scope="module")
def zoo_results(tmp_path_factory: pytest.TempPathFactory):
    from securitynet.annotation import annotate_models
    from securitynet.engine.run import evaluate
    from securitynet.store import Store
    from securitynet.zoo.digits_zoo import build_digits_zoo

    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("zoo-home")
        patch.setenv("SECURITYNET_HOME", str(home))
        patch.setenv("SECURITYNET_CACHE", str(home / "cache"))
        store = Store(f"sqlite:///{home / 'zoo.sqlite'}")
        cards = build_digits_zoo(store, size="small", seed=0, progress=False, device="cpu")
        annotate_models(cards, store, device="cpu")
        frame = evaluate(cards, list(ATTACKS), store=store, params={a: {"n": MEMBERS} for a in ATTACKS},
                         device="cpu")
        assert not frame.attrs["failed"], frame.attrs["failed"]
        yield store, cards, home


@pytest.mark.slow
def test_report_on_the_digits_zoo_shows_auc_rising_with_the_gap(zoo_results) -> None:
    store, cards, home = zoo_results
    out = home / "report"
    result = CliRunner().invoke(__import__("securitynet.cli", fromlist=["app"]).app,
                                ["--db", store.url, "report", "--out", str(out), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "tables" / "membership_vs_overfit_gap.csv")
    results = pd.read_csv(out / "tables" / "results_per_model.csv")
    annotation = results[(results.attack == "annotation.accuracy") & (results.metric == "overfit_gap")]
    gaps = annotation.set_index("model_id").value
    assert gaps.idxmax() == "selftrained/digits/mlp-n60-e300-s0"
    for attack in ATTACKS:
        printed = re.search(rf"membership AUC vs overfit gap \({re.escape(attack)}\): Spearman rho = (-?[0-9.]+) "
                            r"\(p = [^,]+, 95% CI \[[-0-9., ]+\], n = (\d+)\)", result.output)
        assert printed is not None, result.output
        rho, n = float(printed.group(1)), int(printed.group(2))
        assert n == len(cards) and rho > 0, (attack, rho)
        row = table[(table.attack == attack) & (table.origin == "measured")].iloc[0]
        assert row.spearman_rho == pytest.approx(rho, abs=5e-4) and row.overfit_gap_source == f"measured ({n})"
        # The numbers behind it are the stored ones, and the most overfitted model is the most exposed.
        auc = results[(results.attack == attack) & (results.metric == "auc")].set_index("model_id").value
        stored = store.results_frame(attack_like=attack)
        assert auc.to_dict() == pytest.approx(stored[stored.metric == "auc"].set_index("model_id").value.to_dict())
        assert auc.idxmax() == gaps.idxmax()

    page = (out / "report.html").read_text()
    assert 'id="figure-membership_auc_vs_overfit_gap"' in page and "Spearman rho = " in page
    assert (out / "figures" / "membership_auc_vs_overfit_gap.png").is_file()
    assert (out / "figures" / "membership_roc_loglog.svg").is_file()  # drawn from the stored ROC artifacts
    roc = pd.read_csv(out / "tables" / "roc_artifacts.csv")
    assert len(roc) == len(cards) * len(ATTACKS) and roc.problem.isna().all()
