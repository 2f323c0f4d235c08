"""Import the published SecurityNet database: cards, published attack results and papers.

Every row of the Benchmark and Security tables becomes a ModelCard (source "published") and one
job per published attack (origin "published:securitynet-2024"); the New Models table becomes paper
rows. The published file writes metrics it never computed as 0, `nan` or a placeholder; the rules
in MISSING_VALUE_RULES turn those into None with a reason, never into measurements.

Card ids are `securitynet/<dataset>/<model name>`. A (dataset, name) pair that occurs more than
once (the Security table lists each AdversaryLossLandscape configuration three times) keeps the
plain id for its first occurrence and gets `-2`, `-3`, ... for later ones, counted in table order
(Benchmark table first, then Security). Ids are therefore stable as long as the published row order
is; `card.extra["securitynet"]` records the table, line and occurrence of every card, and `same_as`,
the id of the same model's card in a richer built-in source (pytorchcv, medmnist) when there is one.

Import is all or nothing with respect to input errors: the whole file is parsed and every card
validated before anything is written (every row problem of the file is reported together, each with
its line); re-import replaces what an earlier import wrote. A row whose cells are identical to an
earlier row of its table is imported once, with a warning naming both lines (refused with `strict`).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securitynet.catalog.card import ModelCard, PaperInfo, PublishedAnnotation, WeightsSpec
from securitynet.catalog.sources.linking import link_published_card
from securitynet.catalog.sources.markdown_table import Link
from securitynet.catalog.sources.published_table import (
    SECTION_TITLES,
    ModelRow,
    NewModelRow,
    PublishedDatabase,
    read_securitynet_database,
)
from securitynet.job_identity import JobRecord, params_hash

SOURCE = "published"
ORIGIN = "published:securitynet-2024"
ATTACK_VERSION = "securitynet-2024"  # the paper's own implementation, not one of ours
PAPER_SOURCE = "securitynet-2024-new-models"
ID_PREFIX = "securitynet"
PUBLISHED_BY = "SecurityNet database 2024 (TrustAIRLab/SecurityNet Database/README.MD)"


@dataclass(frozen=True)
class PublishedMetric:
    """Where a published column lives in our result vocabulary: attack, its parameters, metric."""

    attack: str
    params: Mapping[str, str]
    metric: str


_STEAL_DEFAULT = {"surrogate": "target-arch", "query_set": "in-distribution"}
_STEAL_WRN = {"surrogate": "wrn", "query_set": "in-distribution"}
_STEAL_IMAGENET = {"surrogate": "target-arch", "query_set": "out-of-distribution", "query_dataset": "imagenet"}

# Published attack column -> our attack/params/metric. Analysis uses this to set published values
# beside measured ones; the params say which of the paper's three stealing runs a column reports.
PUBLISHED_COLUMNS: dict[str, PublishedMetric] = {
    "Model Stealing Accuracy": PublishedMetric("stealing.knockoff", _STEAL_DEFAULT, "accuracy"),
    "Model Stealing Agreement": PublishedMetric("stealing.knockoff", _STEAL_DEFAULT, "agreement"),
    "Wrn Accuracy": PublishedMetric("stealing.knockoff", _STEAL_WRN, "accuracy"),
    "Wrn Agree": PublishedMetric("stealing.knockoff", _STEAL_WRN, "agreement"),
    "ImgNet Accuracy": PublishedMetric("stealing.knockoff", _STEAL_IMAGENET, "accuracy"),
    "ImgNet Agree": PublishedMetric("stealing.knockoff", _STEAL_IMAGENET, "agreement"),
    "Correct Auc": PublishedMetric("mia.correctness", {}, "auc"),
    "M_entropy AUC": PublishedMetric("mia.modified_entropy", {}, "auc"),
}

# Published annotation column -> field of the card's PublishedAnnotation.
ANNOTATION_FIELDS: dict[str, str] = {
    "Train Accuracy": "train_accuracy",
    "Test Accuracy": "test_accuracy",
    "Overfit Gap": "overfit_gap",
}

MEDMNIST_DATASETS: frozenset[str] = frozenset({
    "pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist", "breastmnist",
    "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist",
    "organmnist3d", "nodulemnist3d", "adrenalmnist3d", "fracturemnist3d", "vesselmnist3d", "synapsemnist3d",
})

# Published "Data Name" -> our lowercase dataset name (securitynet.data's names).
DATASET_NAMES: dict[str, str] = {
    "CIFAR-10": "cifar10",
    "CIFAR-100": "cifar100",
    "SVHN": "svhn",
    "ImageNet1k": "imagenet",
    "ImageNet": "imagenet",
    "ImageNet-1k": "imagenet",
    "CUB-200-2011": "cub200",
    "CUB-200": "cub200",
    "MNIST": "mnist",
    "GTSRB": "gtsrb",
    **{name: name for name in MEDMNIST_DATASETS},
}
# Our name -> the published spelling, for writing tables in the published layout.
PUBLISHED_DATASET_NAMES: dict[str, str] = {
    "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "svhn": "SVHN", "imagenet": "ImageNet1k",
    "cub200": "CUB-200-2011", "mnist": "MNIST", "gtsrb": "GTSRB",
}

PURPOSES = ("benchmark", "security", "other", "self-trained")
SVHN_TRAIN_PLACEHOLDER = 0.999
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.\-+]")


def normalise_dataset(published_name: str) -> tuple[str, bool]:
    """Our dataset name for a published one, and whether the mapping knew it.

    Unknown names fall back to the lowercase name without punctuation (`Foo-Bar 2` -> `foobar2`)
    and are listed in the import report.
    """
    if published_name in DATASET_NAMES:
        return DATASET_NAMES[published_name], True
    lowered = {key.lower(): value for key, value in DATASET_NAMES.items()}
    if published_name.lower() in lowered:
        return lowered[published_name.lower()], True
    return re.sub(r"[^a-z0-9]+", "", published_name.lower()) or "unknown", False


def _optional_source(module_name: str) -> Any | None:
    """A sibling source module, or None when it is not installed (yet)."""
    import importlib

    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None


def same_model_elsewhere(row: ModelRow, dataset: str) -> str | None:
    """The id of the card of the same model in a richer built-in source, if there is one.

    imgclsmob rows are pytorchcv models (matched by the pytorchcv source's own rule); MedMNIST rows
    are the MedMNIST v2 benchmark checkpoints (the published 3D names carry a `.pth` suffix). The
    published card stays; the link lets analysis set published values beside measured ones.
    """
    if dataset in MEDMNIST_DATASETS:
        medmnist = _optional_source("securitynet.catalog.sources.medmnist")
        if medmnist is None or dataset not in medmnist.release()["archives"]:
            return None
        stem = row.name.removesuffix(".pth")
        names = {name for name, _, _ in medmnist.model_names(dataset.endswith("3d"))}
        return f"{medmnist.SOURCE}/{dataset}/{stem}" if stem in names else None
    pytorchcv = _optional_source("securitynet.catalog.sources.pytorchcv")
    if pytorchcv is None:
        return None
    name = pytorchcv.match_published_name(row.name, row.data_name)
    return f"{pytorchcv.ID_PREFIX}{name}" if name else None


# --- missing-value rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A published number with what the rules need to judge it."""

    row: ModelRow
    dataset: str
    column: str
    value: float | None
    missing: Mapping[str, str]  # reasons of the columns of this row already judged missing


@dataclass(frozen=True)
class MissingRule:
    name: str
    applies: Callable[[Cell], bool]
    reason: Callable[[Cell], str]


def _is_zero(cell: Cell) -> bool:
    return cell.value is not None and cell.value == 0


def _is_metric(column: str) -> bool:
    """Accuracy, agreement and AUC columns: 0 is never a real measurement of these."""
    return column != "Overfit Gap"


# First matching rule wins. Columns are judged in table order, so Overfit Gap sees the verdict on
# the accuracies it is computed from.
MISSING_VALUE_RULES: tuple[MissingRule, ...] = (
    MissingRule(
        "blank",
        lambda c: c.value is None,
        lambda c: "blank in the published table",
    ),
    MissingRule(
        "nan",
        lambda c: c.value is not None and math.isnan(c.value),
        lambda c: "published as nan: not computed",
    ),
    MissingRule(
        "medmnist-zero",
        lambda c: c.dataset in MEDMNIST_DATASETS and _is_metric(c.column) and _is_zero(c),
        lambda c: "published as 0: not computed for MedMNIST models",
    ),
    MissingRule(
        "svhn-train-placeholder",
        lambda c: c.dataset == "svhn" and c.column == "Train Accuracy" and c.value == SVHN_TRAIN_PLACEHOLDER,
        lambda c: f"published as {SVHN_TRAIN_PLACEHOLDER}, a placeholder shared by every SVHN model: not measured",
    ),
    MissingRule(
        "gap-of-missing-accuracy",
        lambda c: c.column == "Overfit Gap" and bool({"Train Accuracy", "Test Accuracy"} & set(c.missing)),
        lambda c: "published as Train Accuracy - Test Accuracy, but "
        + " and ".join(f"{col} is missing ({c.missing[col]})"
                       for col in ("Train Accuracy", "Test Accuracy") if col in c.missing),
    ),
    MissingRule(
        "zero-not-computed",
        lambda c: _is_metric(c.column) and _is_zero(c),
        lambda c: "published as 0: not computed for this model",
    ),
)


def judge_numbers(row: ModelRow, dataset: str) -> tuple[dict[str, float | None], dict[str, str], dict[str, str]]:
    """Published numbers of one row -> (value or None, reason per missing column, rule per missing column)."""
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    rules: dict[str, str] = {}
    for column, value in row.numbers.items():
        cell = Cell(row=row, dataset=dataset, column=column, value=value, missing=dict(reasons))
        rule = next((r for r in MISSING_VALUE_RULES if r.applies(cell)), None)
        if rule is None:
            values[column] = value
        else:
            values[column] = None
            reasons[column] = rule.reason(cell)
            rules[column] = rule.name
    return values, reasons, rules


# --- building cards, jobs and papers --------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import wrote, and every value it stored as missing, by reason."""

    source: str
    benchmark: int = 0
    security: int = 0
    papers: int = 0
    jobs: int = 0
    results: int = 0
    missing_by_reason: Counter[str] = field(default_factory=Counter)
    missing_by_rule: Counter[str] = field(default_factory=Counter)
    unknown_datasets: Counter[str] = field(default_factory=Counter)
    unknown_purposes: Counter[str] = field(default_factory=Counter)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (plain id, disambiguated id)
    duplicates: int = 0  # rows identical to an earlier row of their table, kept once
    matched: Counter[str] = field(default_factory=Counter)  # richer source -> cards linked by `same_as`
    removed_stale: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def cards(self) -> int:
        return self.benchmark + self.security


@dataclass
class PublishedImport:
    """Everything one import writes, built and validated before any write."""

    cards: list[ModelCard]
    jobs: list[JobRecord]
    papers: list[dict[str, Any]]
    report: ImportReport


def _card_id(dataset: str, name: str, seen: Counter[str], taken: set[str]) -> str:
    base = f"{ID_PREFIX}/{dataset}/{_NOT_IN_ID.sub('_', name)}"
    seen[base] += 1
    candidate = base if seen[base] == 1 else f"{base}-{seen[base]}"
    while candidate in taken:  # a published name that itself ends in -2: keep counting
        seen[base] += 1
        candidate = f"{base}-{seen[base]}"
    taken.add(candidate)
    return candidate


def _url(link: Link | None, what: str, where: str, report: ImportReport) -> str | None:
    if link is None:
        return None
    if not link.is_url:
        report.warnings.append(f"{where}: {what} {link.target!r} is not a URL; stored as missing")
        return None
    return link.target


def _purpose(row: ModelRow, report: ImportReport) -> tuple[str | None, str | None]:
    if row.purpose is None:
        return None, "blank in the published table"
    value = row.purpose.strip().lower()
    if value in PURPOSES:
        return value, None
    report.unknown_purposes[row.purpose] += 1
    return None, f"published purpose {row.purpose!r} is none of {', '.join(PURPOSES)}"


def _whole(value: int | None, label: str, reasons: dict[str, str]) -> int | None:
    """Whole-number annotations: 0 (or blank) means unknown."""
    if value is None:
        reasons[label] = "blank in the published table"
        return None
    if value <= 0:
        reasons[label] = f"published as {value}: unknown"
        return None
    return value


def build_card(row: ModelRow, card_id: str, dataset: str, occurrence: int, report: ImportReport,
               source: str) -> tuple[ModelCard, dict[str, float | None], dict[str, str]]:
    """One table row -> (card, judged numbers, missing reasons per column)."""
    where = f"{source}, table '{SECTION_TITLES[row.table]}', line {row.line}"
    values, column_reasons, rules = judge_numbers(row, dataset)
    reasons: dict[str, str] = {}
    for column, field_name in ANNOTATION_FIELDS.items():
        if column in column_reasons:
            reasons[f"published.{field_name}"] = column_reasons[column]
    num_classes = _whole(row.num_classes, "num_classes", reasons)
    train_size = _whole(row.train_size, "train_size", reasons)
    year = _whole(row.year, "paper.year", reasons)
    num_authors = _whole(row.num_authors, "paper.num_authors", reasons)
    purpose, purpose_reason = _purpose(row, report)
    if purpose_reason:
        reasons["purpose"] = purpose_reason
    reasons["license"] = "not recorded in the SecurityNet table"
    reasons["paper.title"] = "not recorded in the SecurityNet table"
    weights_url = _url(row.weights, "weights link", where, report)
    same_as = same_model_elsewhere(row, dataset)
    if same_as:
        report.matched[same_as.split("/", 1)[0]] += 1
    card = ModelCard.from_dict(
        {
            "id": card_id,
            "name": row.name,
            "source": SOURCE,
            "model_type": row.model_type,
            "family": row.model_type.lower() if row.model_type else None,
            "dataset": dataset,
            "data_category": row.data_category,
            "num_classes": num_classes,
            "train_size": train_size,
            "weights": WeightsSpec(urls=[weights_url] if weights_url else []).model_dump(),
            "license": None,
            "paper": PaperInfo(
                url=_url(row.paper, "paper link", where, report),
                venue=row.conference,
                venue_type=row.conference_type,
                year=year,
                country=row.country,
                num_authors=num_authors,
            ).model_dump(),
            "purpose": purpose,
            "published": PublishedAnnotation(
                train_accuracy=values.get("Train Accuracy"),
                test_accuracy=values.get("Test Accuracy"),
                overfit_gap=values.get("Overfit Gap"),
                source=PUBLISHED_BY,
            ).model_dump(),
            "missing_reasons": reasons,
            "tags": ["securitynet-2024", f"securitynet:{row.table}"],
            "extra": {
                "securitynet": {
                    "table": row.table,
                    "line": row.line,
                    "row": row.index,
                    "occurrence": occurrence,
                    "data_name": row.data_name,
                    "same_as": same_as,
                }
            },
        },
        origin=where,
    )
    for column, reason in column_reasons.items():
        report.missing_by_reason[reason] += 1
        report.missing_by_rule[rules[column]] += 1
    for label in ("num_classes", "train_size", "paper.year", "paper.num_authors", "purpose"):
        if label in reasons:
            report.missing_by_reason[reasons[label]] += 1
    return card, values, column_reasons


def build_jobs(card: ModelCard, row: ModelRow, values: Mapping[str, float | None],
               reasons: Mapping[str, str], source: str) -> list[JobRecord]:
    """One job per published (attack, params) of this row, its metrics None where not measured."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = defaultdict(list)
    for column, spec in PUBLISHED_COLUMNS.items():
        if column in row.numbers:  # the Security table has no WRN / ImageNet-query columns
            groups[(spec.attack, tuple(sorted(spec.params.items())))].append(column)
    jobs = []
    for (attack, params), columns in groups.items():
        metrics = {PUBLISHED_COLUMNS[c].metric: values[c] for c in columns}
        missing = {PUBLISHED_COLUMNS[c].metric: reasons[c] for c in columns if c in reasons}
        published_text = {c: _published_text(row.numbers[c]) for c in columns}
        jobs.append(JobRecord(
            model_id=card.id,
            weight_hash=None,
            attack=attack,
            attack_version=ATTACK_VERSION,
            params=dict(params),
            seed=None,
            metrics=metrics,
            missing_reasons=missing,
            origin=ORIGIN,
            data={
                "source": Path(source).name,
                "table": row.table,
                "line": row.line,
                "columns": {PUBLISHED_COLUMNS[c].metric: c for c in columns},
                "published_text": published_text,
            },
        ))
    return jobs


def _published_text(value: float | None) -> str:
    if value is None:
        return ""
    return "nan" if math.isnan(value) else repr(value)


def build_paper(row: NewModelRow, source: str, report: ImportReport) -> dict[str, Any]:
    where = f"{source}, table '{SECTION_TITLES['new_models']}', line {row.line}"
    return {
        "title": row.title,
        "venue": row.conference,
        "venue_type": row.conference_type,
        "year": row.year,
        "paper_url": _url(row.paper, "paper link", where, report),
        "code_url": _url(row.weights, "weights link", where, report),
        "source": PAPER_SOURCE,
    }


def build_import(database: PublishedDatabase) -> PublishedImport:
    """Cards, jobs and papers for a parsed database; raises before anything is written."""
    report = ImportReport(source=database.source)
    for duplicate in database.duplicates:
        report.duplicates += 1
        report.warnings.append(f"{database.source}, table '{SECTION_TITLES[duplicate.table]}', line {duplicate.line}: "
                               f"duplicate of line {duplicate.first_line} (identical cells); kept once")
    cards: list[ModelCard] = []
    jobs: list[JobRecord] = []
    seen: Counter[str] = Counter()
    taken: set[str] = set()
    for row in [*database.benchmark, *database.security]:
        dataset, known = normalise_dataset(row.data_name)
        if not known:
            report.unknown_datasets[row.data_name] += 1
        card_id = _card_id(dataset, row.name, seen, taken)
        occurrence = seen[f"{ID_PREFIX}/{dataset}/{_NOT_IN_ID.sub('_', row.name)}"]
        if occurrence > 1:
            report.renamed.append((card_id.rsplit("-", 1)[0], card_id))
        card, values, reasons = build_card(row, card_id, dataset, occurrence, report, database.source)
        card = link_published_card(card)  # architecture, input and weights of the matched built-in card
        cards.append(card)
        jobs.extend(build_jobs(card, row, values, reasons, database.source))
        if row.table == "benchmark":
            report.benchmark += 1
        else:
            report.security += 1
    report.matched = Counter(c.extra["matched_card"].split("/", 1)[0] for c in cards if c.extra.get("matched_card"))
    papers = [build_paper(row, database.source, report) for row in database.new_models]
    titles = Counter(p["title"] for p in papers)
    repeated = sorted(t for t, n in titles.items() if n > 1)
    if repeated:
        report.warnings.append(f"New Models repeats title(s) {repeated}; the last row of each is kept")
        papers = list({p["title"]: p for p in papers}.values())
    report.papers = len(papers)
    report.jobs = len(jobs)
    report.results = sum(len(set(job.metrics) | set(job.missing_reasons)) for job in jobs)
    report.warnings.extend(_constant_value_warnings(database))
    return PublishedImport(cards=cards, jobs=jobs, papers=papers, report=report)


def _constant_value_warnings(database: PublishedDatabase, min_rows: int = 5) -> list[str]:
    """Flag a column that holds one non-zero value for every row of a dataset: a likely placeholder
    that no rule covers yet (the SVHN train accuracy 0.999 is the known one)."""
    warnings = []
    for rows in (database.benchmark, database.security):
        by_dataset: dict[str, list[ModelRow]] = defaultdict(list)
        for row in rows:
            by_dataset[normalise_dataset(row.data_name)[0]].append(row)
        for dataset, group in by_dataset.items():
            if len(group) < min_rows:
                continue
            for column in group[0].numbers:
                values = {row.numbers.get(column) for row in group}
                if len(values) != 1:
                    continue
                (value,) = values
                if value is None or math.isnan(value) or value == 0:
                    continue
                if dataset == "svhn" and column == "Train Accuracy" and value == SVHN_TRAIN_PLACEHOLDER:
                    continue
                warnings.append(f"{column} is {value} for all {len(group)} {dataset} rows of the "
                                f"{SECTION_TITLES[group[0].table]} table: a placeholder? stored as published")
    return warnings


# --- writing into the store -----------------------------------------------------------------------


def write_import(plan: PublishedImport, store: Any) -> ImportReport:
    """Write a built import: removes cards and results of an earlier import that are no longer in
    the table, then replaces cards (one transaction), jobs (one) and papers (one)."""
    new_ids = {card.id for card in plan.cards}
    previous = {card.id for card in store.query_cards(source=SOURCE, id_like=f"{ID_PREFIX}/*")}
    stale = sorted(previous - new_ids)
    if stale:
        store.delete_jobs(origin=ORIGIN, model_ids=stale)
        store.delete_models(stale)
    plan.report.removed_stale = len(stale)
    store.upsert_cards(plan.cards)
    store.record_jobs(plan.jobs)
    store.upsert_papers(plan.papers)
    return plan.report


def import_securitynet_database(path: str | Path, store: Any, *, strict: bool = False) -> ImportReport:
    """Parse, validate, then write a SecurityNet database README into `store`; `strict` refuses
    duplicate rows instead of keeping each once."""
    plan = build_import(read_securitynet_database(path, strict=strict))
    return write_import(plan, store)


def iter_cards(path: str | Path) -> Iterator[ModelCard]:
    """The cards of a SecurityNet database file (the source-module protocol, with a path)."""
    yield from build_import(read_securitynet_database(path)).cards


def published_records(cards: Sequence[ModelCard], results: Any = None) -> list[dict[str, Any]]:
    """Cards as rows keyed by the published column names, for `render_securitynet_table`.

    `results` (a `Store.results_frame()`) fills the attack columns through PUBLISHED_COLUMNS; pass
    it filtered to one origin (published or measured): where several rows share a model, attack,
    params and metric, the first wins. Missing values stay None.
    """
    lookup: dict[tuple[str, str, str, str], float | None] = {}
    if results is not None and len(results):
        for rec in results.itertuples(index=False):
            value = None if rec.value is None or (isinstance(rec.value, float) and math.isnan(rec.value)) \
                else float(rec.value)
            lookup.setdefault((rec.model_id, rec.attack, rec.params_hash, rec.metric), value)
        column_keys = {c: (s.attack, params_hash(dict(s.params)), s.metric) for c, s in PUBLISHED_COLUMNS.items()}
    else:
        column_keys = {}
    records = []
    for card in cards:
        record: dict[str, Any] = {
            "Model Name": card.name,
            "Model Type": card.model_type or card.family,
            "Data Name": PUBLISHED_DATASET_NAMES.get(card.dataset, card.dataset),
            "Data Category": card.data_category,
            "Num Class": card.num_classes,
            "Training Size": card.train_size,
            "Train Accuracy": card.published.train_accuracy,
            "Test Accuracy": card.published.test_accuracy,
            "Overfit Gap": card.published.overfit_gap,
            "Conference": card.paper.venue,
            "Conference Type": card.paper.venue_type,
            "Year": card.paper.year,
            "Country": card.paper.country,
            "Num Authors": card.paper.num_authors,
            "Purpose": card.purpose,
            "Paper Link": card.paper.url,
            "Weights": card.extra.get("securitynet", {}).get("weights_link")
            or (card.weights.urls[0] if card.weights.urls else None),
        }
        for column in PUBLISHED_COLUMNS:
            key = column_keys.get(column)
            record[column] = None if key is None else lookup.get((card.id, *key))
        records.append(record)
    return records
