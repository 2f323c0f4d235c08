"""`securitynet report`: one self-contained HTML file, the figures as PNG and SVG, every table as CSV, and
the SecurityNet database table in its published Markdown layout (measured values in bold).

Everything is computed from the store alone. The folder is written next to its destination first and
moved into place at the end, so a failed report leaves the previous one (or nothing), never half of one.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from securitynet.analysis import html as h
from securitynet.analysis.figures import FIGURES, png_and_svg
from securitynet.analysis.frames import AnalysisData, load_analysis_data
from securitynet.analysis.per_model import aggregate, covariates, measured_annotations
from securitynet.analysis.published import (
    TableLayout,
    comparison_summary,
    layout_frame,
    layout_records,
    published_vs_measured,
    render_layout_markdown,
)
from securitynet.analysis.stats import (
    N_BOOTSTRAP,
    backdoor_detection,
    catalog_counts,
    membership_vs_overfit_gap,
    metadata_correlations,
    metric_distributions,
    public_vs_selftrained,
)
from securitynet.errors import SecurityNetError
from securitynet.version import __version__

REPORT_FILE = "report.html"
MARKDOWN_FILE = "securitynet_database.md"


class ReportError(SecurityNetError):
    """A report cannot be written (bad destination, a selection that matches nothing)."""


@dataclass
class Inputs:
    """What the figures draw from."""

    data: AnalysisData
    agg: pd.DataFrame
    cov: pd.DataFrame

    @property
    def roc(self) -> pd.DataFrame:
        return self.data.roc


@dataclass
class Report:
    out_dir: Path
    html: Path
    markdown: Path
    tables: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, list[Path]] = field(default_factory=dict)
    not_drawn: dict[str, str] = field(default_factory=dict)
    membership_gap: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_models: int = 0
    n_values: int = 0

    def membership_gap_lines(self) -> list[str]:
        return membership_gap_lines(self.membership_gap)


def membership_gap_lines(frame: pd.DataFrame) -> list[str]:
    """One printable line per membership attack: Spearman's rho of AUC against the overfit gap."""
    if frame.empty:
        return ["membership AUC vs overfit gap: no membership AUC stored for models with a known overfit gap"]
    lines = []
    for row in frame.itertuples(index=False):
        name = row.attack + (f" [{row.variant}]" if row.variant else "")
        origin = "" if row.origin == "measured" else f", {row.origin}"
        if pd.isna(row.spearman_rho):
            lines.append(f"membership AUC vs overfit gap ({name}{origin}): not computed ({row.note})")
            continue
        interval = "" if pd.isna(row.spearman_ci_low) else \
            f", 95% CI [{row.spearman_ci_low:.3f}, {row.spearman_ci_high:.3f}]"
        lines.append(f"membership AUC vs overfit gap ({name}{origin}): Spearman rho = {row.spearman_rho:.3f} "
                     f"(p = {row.spearman_p:.2g}{interval}, n = {row.n})")
    return lines


def compute_tables(inputs: Inputs, layout: TableLayout, *, n_boot: int = N_BOOTSTRAP) -> dict[str, pd.DataFrame]:
    agg, cov, data = inputs.agg, inputs.cov, inputs.data
    comparison = published_vs_measured(data, agg, layout)
    records = layout_records(data, agg, measured_annotations(agg), layout)
    results = agg.merge(cov[["model_id", "dataset", "family", "purpose"]], on="model_id", how="left")
    roc = data.roc.drop(columns=["fpr", "tpr"]) if not data.roc.empty else data.roc
    return {
        "membership_vs_overfit_gap": membership_vs_overfit_gap(agg, cov, n_boot=n_boot),
        "published_vs_measured": comparison,
        "published_vs_measured_summary": comparison_summary(comparison),
        "securitynet_database": layout_frame(records, layout),
        "metadata_correlations": metadata_correlations(agg, cov, n_boot=n_boot),
        "public_vs_selftrained": public_vs_selftrained(agg, cov, n_boot=n_boot),
        "backdoor_detection": backdoor_detection(agg, cov, data.attacks),
        "metric_distributions": metric_distributions(agg, cov),
        "catalog_counts": catalog_counts(cov),
        "models": cov,
        "results_per_model": results[[
            "model_id", "dataset", "family", "purpose", "attack", "variant", "origin", "metric", "value", "std",
            "n_seeds", "seeds", "missing_reason", "params_hash", "params", "attack_version", "weight_hash"]],
        "roc_artifacts": roc,
        "_layout_records": pd.DataFrame({"record": records}),
    }


def write_report(store: Any, out_dir: str | Path, layout: TableLayout, *, model_ids: Sequence[str] | None = None,
                 selection: str | None = None, n_boot: int = N_BOOTSTRAP, title: str = "SecurityNet report") -> Report:
    """Write the report of the models ``model_ids`` (None: all) into ``out_dir``, the published table in ``layout``.

    ``selection``: the query that chose ``model_ids``, as the page shows it (the caller resolves it: analysis
    reads the store only, so selecting cards is the catalog's job).
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"report destination {out_dir} exists and is not a folder")
    data = load_analysis_data(store, None if model_ids is None else list(model_ids))
    agg = aggregate(data.results)
    inputs = Inputs(data=data, agg=agg, cov=covariates(data, agg))
    tables = compute_tables(inputs, layout, n_boot=n_boot)
    records = tables.pop("_layout_records").record.tolist()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        report = _write_files(staging, inputs, tables, records, layout, title=title, query=selection)
        _move_into_place(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _relocated(report, staging, out_dir)


def _write_files(folder: Path, inputs: Inputs, tables: dict[str, pd.DataFrame], records: list[dict[str, Any]],
                 layout: TableLayout, *, title: str, query: str | None) -> Report:
    (folder / "figures").mkdir()
    (folder / "tables").mkdir()
    report = Report(out_dir=folder, html=folder / REPORT_FILE, markdown=folder / MARKDOWN_FILE,
                    membership_gap=tables["membership_vs_overfit_gap"], n_models=len(inputs.data.models),
                    n_values=int(inputs.data.results.value.notna().sum()))
    for name, frame in tables.items():
        path = folder / "tables" / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.10g")
        report.tables[name] = path
    markdown = _markdown_document(records, layout)
    report.markdown.write_text(markdown, encoding="utf-8")
    figure_html = []
    for spec in FIGURES:
        drawn = spec.draw(inputs)
        if drawn.figure is None:
            report.not_drawn[spec.name] = drawn.note or "nothing to draw"
            figure_html.append(f'<section class="figure-block" id="figure-{spec.name}"><h3>{html.escape(spec.title)}'
                               f'</h3><p class="not-drawn">Not drawn: {html.escape(report.not_drawn[spec.name])}.</p>'
                               f'</section>')
            continue
        png, svg = png_and_svg(drawn.figure)
        paths = [folder / "figures" / f"{spec.name}.png", folder / "figures" / f"{spec.name}.svg"]
        paths[0].write_bytes(png)
        paths[1].write_bytes(svg)
        report.figures[spec.name] = paths
        note = f" {html.escape(drawn.note)}." if drawn.note else ""
        figure_html.append(
            f'<section class="figure-block" id="figure-{spec.name}"><h3>{html.escape(spec.title)}</h3><figure>'
            f'<img class="figure" alt="{html.escape(spec.title)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(spec.caption)}{note} Files: '
            f'<a href="figures/{spec.name}.png">PNG</a>, <a href="figures/{spec.name}.svg">SVG</a>.</figcaption>'
            f'</figure></section>')
    report.html.write_text(_html_document(inputs, tables, records, figure_html, title=title, query=query),
                           encoding="utf-8")
    return report


def _markdown_document(records: list[dict[str, Any]], layout: TableLayout) -> str:
    measured = _count_measured(records)
    return (
        "# SecurityNet database (this installation)\n\n"
        "Columns as in the SecurityNet database's Benchmark table. **Bold** numbers were measured by this "
        "installation (mean over seeds); plain numbers are published (SecurityNet 2024, or the model's own "
        "card); — means missing (never measured, or published as not computed).\n\n"
        f"{len(records)} models, {measured} measured values.\n\n"
        + render_layout_markdown(records, layout) + "\n"
    )


def _count_measured(records: list[dict[str, Any]]) -> int:
    return sum(1 for record in records for key, cell in record.items()
               if not key.startswith("_") and cell[1] == "measured" and cell[0] is not None)


def _html_document(inputs: Inputs, tables: dict[str, pd.DataFrame], records: list[dict[str, Any]],
                   figure_html: list[str], *, title: str, query: str | None) -> str:
    data = inputs.data
    measured = data.measured
    esc = html.escape
    gap_lines = "".join(f"<li>{esc(line)}</li>" for line in membership_gap_lines(tables["membership_vs_overfit_gap"]))
    comparison = tables["published_vs_measured"]
    pairs = int(comparison.measured.notna().sum())
    layout = tables["securitynet_database"]
    bold = {c: layout[f"{c} origin"].eq("measured") for c in layout.columns if f"{c} origin" in layout.columns}
    layout_shown = layout[[c for c in layout.columns if not c.endswith(" origin")]]
    correlations = tables["metadata_correlations"]
    distributions = tables["metric_distributions"]
    runs = sorted({str(r) for r in measured.run_id.dropna()})
    versions = sorted({str(v) for v in measured.software_version.dropna()})
    sections = [
        ("summary", "Membership AUC against overfit gap",
         f"<ul>{gap_lines}</ul>" + h.table(tables["membership_vs_overfit_gap"], table_id="membership-vs-gap")),
        ("figures", "Figures", "".join(figure_html)),
        ("published-vs-measured-section", "Published versus measured",
         f"<p>{len(comparison)} published values of the selected models; {pairs} have a measured counterpart "
         "(difference = measured − published). A measured counterpart is the same model (the published card's "
         "<code>same_as</code>) run with the attack and the parameters the published column fixes.</p>"
         + h.table(tables["published_vs_measured_summary"], table_id="published-vs-measured-summary")
         + h.table(comparison, table_id="published-vs-measured")),
        ("database", "SecurityNet database layout",
         f"<p>{len(records)} rows in the published Benchmark table's columns; <b>bold</b>: measured here, "
         f"plain: published, —: missing. Also as <a href=\"{MARKDOWN_FILE}\">Markdown</a>.</p>"
         + h.table(layout_shown, table_id="securitynet-database", max_rows=300, bold=bold)),
        ("correlations", "Correlations with model metadata",
         "<p>Pearson and Spearman with p-values and 95% percentile bootstrap intervals "
         f"({N_BOOTSTRAP} resamples, seed 0), over all selected models; per-dataset rows are in "
         "<a href=\"tables/metadata_correlations.csv\">the CSV</a>. Categorical covariates: each level "
         "against the rest, with a Kruskal-Wallis test across levels.</p>"
         + h.table(correlations[correlations.scope == "all"], table_id="metadata-correlations")),
        ("public-vs-selftrained", "Public versus self-trained models",
         h.table(tables["public_vs_selftrained"], table_id="public-vs-selftrained")),
        ("backdoor", "Backdoor detection (model-level AUROC recomputed for this selection)",
         h.table(tables["backdoor_detection"], table_id="backdoor-detection")),
        ("distributions", "Distributions of every metric",
         "<p>Over all selected models; per dataset, family and purpose in "
         "<a href=\"tables/metric_distributions.csv\">the CSV</a>.</p>"
         + h.table(distributions[distributions.grouping == "all"], table_id="metric-distributions")),
        ("catalog-section", "Catalog", h.table(tables["catalog_counts"], table_id="catalog-counts")),
        ("results", "Results per model", h.table(tables["results_per_model"], table_id="results-per-model")),
    ]
    toc = "".join(f'<li><a href="#{sid}">{esc(name)}</a></li>' for sid, name, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{esc(name)}</h2>{content}</section>' for sid, name, content in sections)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = (f"Store: <code>{esc(data.source)}</code> · models: {len(data.models)} · values: "
            f"{int(data.results.value.notna().sum())} ({int(measured.value.notna().sum())} measured) · selection: "
            f"<code>{esc(query or 'all models')}</code> · runs: {esc(', '.join(runs[:5]) or '—')}"
            f"{' …' if len(runs) > 5 else ''} · software: {esc(', '.join(versions) or '—')} · "
            f"securitynet {esc(__version__)} · generated {generated}")
    undeclared = data.undeclared_attacks
    if undeclared:  # results stored before attacks declared themselves, or imported from a published table
        meta += (f"<br>Not declared in the store's attacks table (family, headline metric and scores taken from "
                 f"the name): <code>{esc(', '.join(undeclared))}</code>")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{h.STYLE}</style></head>"
            f"<body><h1>{esc(title)}</h1><p class=\"meta\">{meta}</p><nav><ul>{toc}</ul></nav>{body}"
            f"<script>{h.SORTER}</script><script>{h.IMAGE_CHECK}</script></body></html>")


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Replace the report's own files in ``out_dir`` (other files there are left alone)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("figures", "tables"):
        target = out_dir / name
        if target.exists():
            shutil.rmtree(target)
    for item in staging.iterdir():
        os.replace(item, out_dir / item.name)


def _relocated(report: Report, staging: Path, out_dir: Path) -> Report:
    def move(path: Path) -> Path:
        return out_dir / path.relative_to(staging)

    report.out_dir = out_dir
    report.html = move(report.html)
    report.markdown = move(report.markdown)
    report.tables = {k: move(v) for k, v in report.tables.items()}
    report.figures = {k: [move(p) for p in v] for k, v in report.figures.items()}
    return report


def write_quickstart_report(store: Any, out_dir: str | Path, layout: TableLayout, *, console: Any = None) -> Path:
    """The quickstart's last step: write the report of every stored result, print the membership finding,
    where the report is and how to browse the database; returns the HTML file."""
    from rich.console import Console

    report = write_report(store, out_dir, layout)
    console = console or Console()
    for line in report.membership_gap_lines():
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    console.print(f"report: {report.html}  (figures, CSV tables and {MARKDOWN_FILE} beside it)", highlight=False,
                  soft_wrap=True)
    console.print(f"browse the database: securitynet serve --report {report.out_dir}  (then open "
                  "http://127.0.0.1:8001/)", highlight=False, soft_wrap=True)
    return report.html
