"""The HTML report in headless Chromium: every figure decodes, the tables are there and sortable."""

from __future__ import annotations

import re

import pytest

from securitynet.analysis.report import write_report
from securitynet.catalog.sources.benchmark_layout import BENCHMARK_LAYOUT
from securitynet.store import Store


@pytest.mark.slow
def test_report_renders_every_figure_and_the_published_table(chromium, populate_store, tmp_path,
                                                              test_artifacts) -> None:
    store = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
    populate_store(store, tmp_path / "artifacts")
    report = write_report(store, tmp_path / "report", BENCHMARK_LAYOUT, n_boot=100)
    assert len(report.figures) == 6

    dom = chromium.dump_dom(report.html.as_uri())
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-images="{len(report.figures)}"' in body, body  # the load handler ran and saw every figure
    assert 'data-broken-images="0"' in body, body
    table = re.search(r'<table class="sortable" id="published-vs-measured" data-rows="(\d+)">(.*?)</table>', dom,
                      re.S)
    assert table is not None, "the published-versus-measured table is missing"
    assert int(table.group(1)) == 8 and table.group(2).count("<tr>") == 1 + 8
    assert "securitynet/digits/m1" in table.group(2) and "—" in table.group(2)

    shot = chromium.screenshot(report.html.as_uri(), test_artifacts / "report.png", size="1400,2400")
    assert shot.stat().st_size > 10_000
