"""The published SecurityNet table: parsing, missing-value rules, cards, published results, papers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from securitynet.catalog.sources.markdown_table import parse_link, parse_tables, split_cells
from securitynet.catalog.sources.published import (
    MISSING_VALUE_RULES,
    ORIGIN,
    PAPER_SOURCE,
    PUBLISHED_COLUMNS,
    build_import,
    import_securitynet_database,
    normalise_dataset,
    published_records,
)
from securitynet.catalog.sources.published_table import (
    ATTACK_COLUMNS_BENCHMARK,
    COLUMNS,
    parse_securitynet_database,
    read_securitynet_database,
    render_securitynet_table,
)
from securitynet.cli import app
from securitynet.errors import TableFormatError, TableRowsError
from securitynet.job_identity import params_hash
from securitynet.store import Store

README = "reference/securitynet_database_README.md"

# --- a small hand-written database in the published layout ------------------------------------------

_BENCH_HEADER = COLUMNS["benchmark"]
_SEC_HEADER = COLUMNS["security"]
_NEW_HEADER = COLUMNS["new_models"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _rule(n: int) -> str:
    return "|" + "|".join([":---"] * n) + "|"


def _bench(name: str, data: str, category: str, numbers: dict[str, str], classes: str = "10",
           purpose: str = "benchmark") -> list[str]:
    values = {
        "Model Name": name, "Model Type": "resnet", "Data Name": data, "Data Category": category,
        "Num Class": classes, "Training Size": "50000",
        "Train Accuracy": "0.99", "Test Accuracy": "0.93", "Overfit Gap": "0.06",
        **{column: "0.5" for column in ATTACK_COLUMNS_BENCHMARK},
        "Conference": "CVPR", "Conference Type": "CV", "Year": "2016", "Country": "USA", "Num Authors": "4",
        "Purpose": purpose, "Paper Link": "[Link](https://arxiv.org/abs/1512.03385)",
        "Weights": "[Link](https://github.com/osmr/imgclsmob/tree/master/pytorch)",
    }
    values.update(numbers)
    return [values[c] for c in _BENCH_HEADER]


def _sec(name: str, train: str) -> list[str]:
    values = dict(zip(_BENCH_HEADER, _bench(name, "CIFAR-10", "natural", {"Train Accuracy": train}), strict=True))
    values["Purpose"] = "security"
    return [values[c] for c in _SEC_HEADER]


def _document(bench_rows: list[list[str]], sec_rows: list[list[str]], new_rows: list[list[str]] | None = None,
              bench_header: tuple[str, ...] = _BENCH_HEADER) -> str:
    new_rows = new_rows if new_rows is not None else [
        ["A Paper (with parentheses)", "ICML", "ML", "2024", "[Paper](https://arxiv.org/abs/2401.09417)",
         "[Link](https://github.com/hustvl/Vim?tab=readme-ov-file)", ""],
        ["Another paper", "NeurIPS", "ML", "2023", "[Paper](Another paper (mlr.press))",
         "[Link](https://github.com/x/y)", "no model"],
    ]
    parts = ["# SecurityNet Database", "", "Intro text | with a pipe that is not a table.", "",
             "## Benchmark Models", _row(list(bench_header)), _rule(len(bench_header)),
             *(_row(r) for r in bench_rows), "", "## Security Research Models", _row(list(_SEC_HEADER)),
             _rule(len(_SEC_HEADER)), *(_row(r) for r in sec_rows), "", "## New Models",
             _row(list(_NEW_HEADER)), _rule(len(_NEW_HEADER)), *(_row(r) for r in new_rows), ""]
    return "\n".join(parts)


def _small_rows() -> tuple[list[list[str]], list[list[str]]]:
    zeros = {column: "0" for column in ATTACK_COLUMNS_BENCHMARK if column not in
             ("Model Stealing Accuracy", "Model Stealing Agreement")}
    bench = [
        _bench("resnet20_cifar10", "CIFAR-10", "natural", {"Test Accuracy": "0.9384", "Overfit Gap": "-0.01",
                                                             "Train Accuracy": "0.9284"}),
        _bench("resnet18_28_1", "bloodmnist", "medical",
               {"Train Accuracy": "0", "Test Accuracy": "0.957322", "Overfit Gap": "-0.957322", **zeros},
               classes="8", purpose="other"),
        _bench("resnet20_svhn", "SVHN", "digit", {"Train Accuracy": "0.999", "Test Accuracy": "0.9703",
                                                  "Overfit Gap": "0.0287"}),
        _bench("dla34", "ImageNet1k", "natural", {"Correct Auc": "0", "M_entropy AUC": "0", "Wrn Accuracy": "0",
                                                  "Wrn Agree": "0"}, classes="1000"),
    ]
    security = [_sec("vgg_plain", "0.81"), _sec("vgg_plain", "0.82"), _sec("vgg_plain", "0.83"),
                _sec("other_model", "nan")]
    return bench, security


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    bench, security = _small_rows()
    path = tmp_path / "README.MD"
    path.write_text(_document(bench, security), encoding="utf-8")
    return path


# --- the real published table --------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_import(tmp_path_factory: pytest.TempPathFactory):
    from securitynet import config

    shared = config.shared_data_dir()
    if shared is None or not (shared / README).is_file():
        pytest.skip("../shared/data/reference/securitynet_database_README.md is absent")
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('published') / 'db.sqlite'}")
    report = import_securitynet_database(shared / README, store)
    return shared / README, store, report


def _raw_rows(path: Path, section: str) -> list[dict[str, str]]:
    """The table rows read with nothing but str.split, to check the importer against."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {section}") + 1
    header = [c.strip() for c in lines[start].strip().strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, [c.strip() for c in line.strip().strip("|").split("|")], strict=True)))
    return rows


def test_real_table_parses_with_published_row_counts(shared_data: Path) -> None:
    database = read_securitynet_database(shared_data / README)
    assert len(database.benchmark) == 437
    assert len(database.security) == 92
    # The data README speaks of 89 projects; the file has one row per project, all distinct.
    raw_new = _raw_rows(shared_data / README, "New Models")
    assert len(database.new_models) == len(raw_new)
    assert len({row.title for row in database.new_models}) == len(raw_new)


def test_real_import_gives_437_benchmark_and_92_security_cards(real_import) -> None:
    _, store, report = real_import
    assert (report.benchmark, report.security) == (437, 92)
    cards = store.query_cards(source="published")
    tables = Counter(card.extra["securitynet"]["table"] for card in cards)
    assert tables == {"benchmark": 437, "security": 92}
    purposes = Counter(card.purpose for card in cards)
    assert purposes["security"] == 92 and purposes["benchmark"] + purposes["other"] == 437
    assert not report.unknown_datasets and not report.unknown_purposes
    assert {card.dataset for card in cards} >= {"cifar10", "cifar100", "svhn", "imagenet", "cub200", "pathmnist"}


def test_medmnist_row_has_missing_train_accuracy_and_auc(real_import) -> None:
    path, store, _ = real_import
    raw = next(r for r in _raw_rows(path, "Benchmark Models") if r["Data Name"] == "bloodmnist")
    assert float(raw["Train Accuracy"]) == 0 and float(raw["Correct Auc"]) == 0  # what is published
    card = store.get_card(f"securitynet/bloodmnist/{raw['Model Name']}")
    assert card.published.train_accuracy is None
    assert card.published.overfit_gap is None
    assert "MedMNIST" in card.missing_reasons["published.train_accuracy"]
    assert "Train Accuracy is missing" in card.missing_reasons["published.overfit_gap"]
    assert card.published.test_accuracy == float(raw["Test Accuracy"])
    frame = store.results_frame(model_ids=[card.id])
    auc = frame[frame.metric == "auc"]
    assert set(auc.attack) == {"mia.correctness", "mia.modified_entropy"}
    assert auc.value.isna().all()
    assert auc.missing_reason.str.contains("not computed for MedMNIST").all()
    stolen = frame[(frame.attack == "stealing.knockoff") & frame.value.notna()]
    assert sorted(stolen.value) == sorted([float(raw["Model Stealing Accuracy"]),
                                           float(raw["Model Stealing Agreement"])])


def test_svhn_train_accuracy_placeholder_is_missing(real_import) -> None:
    path, store, _ = real_import
    svhn_rows = [r for r in _raw_rows(path, "Benchmark Models") if r["Data Name"] == "SVHN"]
    assert {r["Train Accuracy"] for r in svhn_rows} == {"0.999"}
    for raw in svhn_rows[:5]:
        card = store.get_card(f"securitynet/svhn/{raw['Model Name']}")
        assert card.published.train_accuracy is None
        assert "placeholder" in card.missing_reasons["published.train_accuracy"]
        assert card.published.overfit_gap is None
        assert card.published.test_accuracy == float(raw["Test Accuracy"])


def test_cifar10_row_keeps_published_values_exactly(real_import) -> None:
    path, store, _ = real_import
    raw = next(r for r in _raw_rows(path, "Benchmark Models") if r["Data Name"] == "CIFAR-10")
    card = store.get_card(f"securitynet/cifar10/{raw['Model Name']}")
    assert card.published.test_accuracy == float(raw["Test Accuracy"])
    assert card.published.train_accuracy == float(raw["Train Accuracy"])
    assert card.published.overfit_gap == float(raw["Overfit Gap"])
    assert card.num_classes == int(raw["Num Class"]) and card.train_size == int(raw["Training Size"])
    assert card.paper.venue == raw["Conference"] and card.paper.year == int(raw["Year"])
    assert card.paper.url == parse_link(raw["Paper Link"]).target
    # The published Weights column is a project page: kept beside the card, while the loadable weights (and the
    # license) come from the matched pytorchcv card (catalog/sources/linking.py).
    assert card.extra["securitynet"]["weights_link"] == parse_link(raw["Weights"]).target
    assert card.extra["matched_card"].startswith("pytorchcv/") and card.weights.source_hash
    assert card.license is not None and "license" not in card.missing_reasons
    frame = store.results_frame(model_ids=[card.id])
    for column, spec in PUBLISHED_COLUMNS.items():
        hit = frame[(frame.attack == spec.attack) & (frame.metric == spec.metric)
                    & (frame.params_hash == params_hash(dict(spec.params)))]
        assert len(hit) == 1, column
        assert hit.value.iloc[0] == float(raw[column]), column
    assert set(frame.origin) == {ORIGIN}


def test_imagenet_nan_and_zero_values_are_missing(real_import) -> None:
    path, store, report = real_import
    security = _raw_rows(path, "Security Research Models")
    raw = next(r for r in security if r["Model Stealing Accuracy"] == "nan")
    ids = [c.id for c in store.query_cards(source="published", dataset="imagenet", purpose="security")
           if c.name == raw["Model Name"]]
    frame = store.results_frame(model_ids=ids[:1])
    stealing = frame[frame.attack == "stealing.knockoff"]
    assert stealing.value.isna().all() and (stealing.missing_reason == "published as nan: not computed").all()
    # ImageNet benchmark targets: WRN-surrogate and ImageNet-query columns are all 0 = never evaluated.
    bench = next(r for r in _raw_rows(path, "Benchmark Models") if r["Data Name"] == "ImageNet1k")
    frame = store.results_frame(model_ids=[f"securitynet/imagenet/{bench['Model Name']}"])
    wrn = frame[frame.params_json.map(lambda p: (p or {}).get("surrogate") == "wrn")]
    assert len(wrn) == 2 and wrn.value.isna().all()
    assert report.missing_by_rule["nan"] == sum(
        r[c] == "nan" for r in security for c in r)


def test_repeated_security_names_get_stable_suffixes_in_table_order(real_import) -> None:
    path, store, report = real_import
    security = _raw_rows(path, "Security Research Models")
    name = Counter(r["Model Name"] for r in security).most_common(1)[0][0]
    occurrences = [r for r in security if r["Model Name"] == name]
    assert len(occurrences) == 3
    base = f"securitynet/cifar10/{name}"
    for suffix, raw in zip(["", "-2", "-3"], occurrences, strict=True):
        card = store.get_card(base + suffix)
        assert card.published.train_accuracy == float(raw["Train Accuracy"])
    ids = store.model_ids()
    assert len(ids) == len(set(ids)) == 529
    assert (base, base + "-3") in report.renamed


def test_reimport_replaces_without_duplicates(shared_data: Path, store: Store) -> None:
    first = import_securitynet_database(shared_data / README, store)
    counts = (len(store.model_ids()), len(store.jobs_frame()), len(store.results_frame()))
    second = import_securitynet_database(shared_data / README, store)
    assert (len(store.model_ids()), len(store.jobs_frame()), len(store.results_frame())) == counts
    assert counts == (529, first.jobs, first.results)
    assert second.removed_stale == 0
    with store.engine.connect() as conn:
        papers = conn.exec_driver_sql("select count(*), count(distinct title) from papers where source = ?",
                                      (PAPER_SOURCE,)).one()
    assert papers == (first.papers, first.papers)


# --- rules and layout on a small generated table ---------------------------------------------------


def test_missing_value_rules_on_generated_rows(small_db: Path, store: Store) -> None:
    report = import_securitynet_database(small_db, store)
    cifar = store.get_card("securitynet/cifar10/resnet20_cifar10")
    assert (cifar.published.train_accuracy, cifar.published.test_accuracy, cifar.published.overfit_gap) == (
        0.9284, 0.9384, -0.01)  # a negative gap that was measured stays
    assert not {k for k in cifar.missing_reasons if k.startswith("published.")}
    blood = store.get_card("securitynet/bloodmnist/resnet18_28_1")
    assert blood.published.train_accuracy is None and blood.published.test_accuracy == 0.957322
    svhn = store.get_card("securitynet/svhn/resnet20_svhn")
    assert svhn.published.train_accuracy is None and svhn.published.overfit_gap is None
    assert svhn.published.test_accuracy == 0.9703
    nan_card = store.get_card("securitynet/cifar10/other_model")
    assert nan_card.missing_reasons["published.train_accuracy"] == "published as nan: not computed"

    frame = store.results_frame()
    dla = frame[frame.model_id == "securitynet/imagenet/dla34"].set_index(["attack", "metric", "params_hash"])
    auc = dla.xs("auc", level="metric")
    assert auc.value.isna().all() and (auc.missing_reason == "published as 0: not computed for this model").all()
    kept = frame[(frame.model_id == "securitynet/imagenet/dla34") & frame.value.notna()]
    assert len(kept) == 4 and (kept.value == 0.5).all()  # default-surrogate and ImageNet-query stealing
    assert report.missing_by_rule == Counter({"medmnist-zero": 7, "svhn-train-placeholder": 1,
                                              "gap-of-missing-accuracy": 3, "zero-not-computed": 4, "nan": 1})
    # The security table has no WRN / ImageNet-query columns: no rows are invented for them.
    vgg = frame[frame.model_id == "securitynet/cifar10/vgg_plain-2"]
    assert len(vgg) == 4 and set(vgg.attack) == {"stealing.knockoff", "mia.correctness", "mia.modified_entropy"}
    assert [store.get_card(f"securitynet/cifar10/vgg_plain{s}").published.train_accuracy
            for s in ("", "-2", "-3")] == [0.81, 0.82, 0.83]
    assert {rule.name for rule in MISSING_VALUE_RULES} >= set(report.missing_by_rule)


def test_new_models_become_papers_and_a_non_url_link_is_missing(small_db: Path, store: Store) -> None:
    report = import_securitynet_database(small_db, store)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("select title, venue, year, paper_url, code_url, source from papers "
                                    "order by title").all()
    assert rows == [
        ("A Paper (with parentheses)", "ICML", 2024, "https://arxiv.org/abs/2401.09417",
         "https://github.com/hustvl/Vim?tab=readme-ov-file", PAPER_SOURCE),
        ("Another paper", "NeurIPS", 2023, None, "https://github.com/x/y", PAPER_SOURCE),
    ]
    assert any("'Another paper (mlr.press)' is not a URL" in w for w in report.warnings)


def test_reimport_of_a_shorter_table_removes_stale_cards_and_results(tmp_path: Path, store: Store) -> None:
    bench, security = _small_rows()
    path = tmp_path / "README.MD"
    path.write_text(_document(bench, security), encoding="utf-8")
    import_securitynet_database(path, store)
    path.write_text(_document(bench[:2], security), encoding="utf-8")
    report = import_securitynet_database(path, store)
    assert report.removed_stale == 2
    assert "securitynet/svhn/resnet20_svhn" not in store.model_ids()
    assert set(store.results_frame().model_id) == set(store.model_ids())


def _replace_cell(rows: list[list[str]], index: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in rows]
    rows[index][_BENCH_HEADER.index(column)] = value
    return rows


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: [b[0], b[1][:-1], *b[2:]], "line 9: row has 24 cells, the header has 25"),
        (lambda b: _replace_cell(b, 2, "Num Class", "ten"), "line 10, column 'Num Class': 'ten' is not a whole"),
        (lambda b: _replace_cell(b, 3, "Test Accuracy", "0.9x"), "line 11, column 'Test Accuracy': '0.9x' is not"),
    ],
    ids=["wrong-cell-count", "non-numeric-integer", "non-numeric-float"],
)
def test_malformed_rows_name_table_line_and_column(mutate, message: str) -> None:
    bench, security = _small_rows()
    with pytest.raises(TableFormatError, match="Benchmark Models") as info:
        parse_securitynet_database(_document(mutate(bench), security), source="gen.md")
    assert message in str(info.value)


def test_missing_header_alignment_and_section_are_errors() -> None:
    bench, security = _small_rows()
    text = _document(bench, security)
    no_header = text.replace(_row(list(_BENCH_HEADER)) + "\n", "")
    with pytest.raises(TableFormatError, match=r"line 6: the table has no header row"):
        parse_securitynet_database(no_header, source="gen.md")
    no_rule = text.replace(_rule(len(_BENCH_HEADER)) + "\n", "", 1)
    with pytest.raises(TableFormatError, match=r"'Benchmark Models', line 7: expected the alignment row"):
        parse_securitynet_database(no_rule, source="gen.md")
    lacking = _document(bench, security, bench_header=tuple(c if c != "Wrn Agree" else "Wrn Agreement"
                                                            for c in _BENCH_HEADER))
    with pytest.raises(TableFormatError, match=r"line 6: header lacks column\(s\) \['Wrn Agree'\]"):
        parse_securitynet_database(lacking, source="gen.md")
    with pytest.raises(TableFormatError, match=r"no table under a heading 'New Models'"):
        parse_securitynet_database(text.split("## New Models")[0], source="gen.md")


def test_parse_error_leaves_the_database_untouched(small_db: Path, tmp_path: Path, store: Store) -> None:
    import_securitynet_database(small_db, store)
    before = (store.model_ids(), len(store.results_frame()))
    bench, security = _small_rows()
    bench = _replace_cell(bench, 3, "Test Accuracy", "n/a")  # the last row: reached after the others parsed
    bad = tmp_path / "bad.md"
    bad.write_text(_document(bench[1:], security), encoding="utf-8")  # would also remove a card
    with pytest.raises(TableFormatError, match="line 10, column 'Test Accuracy'"):
        import_securitynet_database(bad, store)
    assert (store.model_ids(), len(store.results_frame())) == before


def test_unknown_dataset_is_reported_and_normalised(tmp_path: Path) -> None:
    bench, security = _small_rows()
    bench.append(_bench("net_x", "Tiny-ImageNet 200", "natural", {}))
    database = parse_securitynet_database(_document(bench, security), source="gen.md")
    plan = build_import(database)
    assert plan.report.unknown_datasets == Counter({"Tiny-ImageNet 200": 1})
    assert "securitynet/tinyimagenet200/net_x" in {c.id for c in plan.cards}
    assert normalise_dataset("CIFAR-10") == ("cifar10", True)
    assert normalise_dataset("cub-200-2011") == ("cub200", True)


def test_cells_links_and_escapes() -> None:
    assert split_cells(r"| a \| b | `x|y` | [Link](https://e.org/a_(b)) |") == ["a | b", "`x|y`", "[Link](https://e.org/a_(b))"]
    link = parse_link("[Paper](Robustness Verification (mlr.press))")
    assert link.target == "Robustness Verification (mlr.press)" and not link.is_url
    assert parse_link("[Link](https://e.org/a_(b))").target == "https://e.org/a_(b)"
    assert parse_link("") is None
    with pytest.raises(ValueError):
        parse_link("see the repo")
    (table,) = parse_tables("## T\n|a|b|\n|--:|:-:|\n|1|2|\n")
    assert table.alignments == ("right", "center") and table.rows[0].line == 4


def test_published_layout_round_trips(small_db: Path, store: Store) -> None:
    """Cards and published results written in the published layout parse back to the same values."""
    import_securitynet_database(small_db, store)
    cards = store.query_cards(source="published")
    bench_cards = [c for c in cards if c.purpose != "security"]
    sec_cards = [c for c in cards if c.purpose == "security"]
    results = store.results_frame(origin=ORIGIN)
    text = "\n".join([
        "## Benchmark Models", render_securitynet_table("benchmark", published_records(bench_cards, results)),
        "## Security Research Models", render_securitynet_table("security", published_records(sec_cards, results)),
        "## New Models", render_securitynet_table("new_models", []),
    ])
    again = parse_securitynet_database(text, source="rendered")
    assert len(again.benchmark) == len(bench_cards) and len(again.security) == len(sec_cards)
    by_name = {(r.data_name, r.name, r.numbers.get("Train Accuracy")): r for r in again.benchmark}
    blood = next(r for key, r in by_name.items() if key[1] == "resnet18_28_1")
    assert blood.numbers["Train Accuracy"] is None  # missing is blank, never 0
    assert blood.numbers["Correct Auc"] is None
    assert blood.numbers["Test Accuracy"] == 0.957322
    assert blood.numbers["Model Stealing Accuracy"] == 0.5
    cifar = next(r for r in again.benchmark if r.name == "resnet20_cifar10")
    assert cifar.data_name == "CIFAR-10" and cifar.numbers["Overfit Gap"] == -0.01
    assert cifar.paper is not None and cifar.paper.target == "https://arxiv.org/abs/1512.03385"
    assert sum(1 for r in again.security if r.name == "vgg_plain") == 3


def test_benchmark_rows_link_to_the_richer_builtin_card(real_import) -> None:
    from securitynet.catalog.builtin import load_builtin_catalog

    _, store, report = real_import
    cards = store.query_cards(source="published")
    links = {c.id: c.extra["securitynet"]["same_as"] for c in cards}
    assert all(links[c.id].startswith(("adversary_loss_landscape/", "robust_imagenet/"))
               for c in cards if c.purpose == "security")
    pytorchcv = {c.id: c for c in load_builtin_catalog(["pytorchcv"]).cards}
    if not pytorchcv:
        pytest.skip("the pytorchcv source is not installed")
    linked = [c for c in cards if (links[c.id] or "").startswith("pytorchcv/")]
    assert len(linked) == report.matched["pytorchcv"] > 0
    assert len({links[c.id] for c in linked}) == len(linked)  # one published row per pytorchcv model
    for card in linked:
        other = pytorchcv[links[card.id]]
        assert (other.dataset, other.num_classes) == (card.dataset, card.num_classes), card.id


@pytest.mark.slow
def test_medmnist_rows_link_to_the_medmnist_cards(real_import) -> None:
    from securitynet.catalog.builtin import load_builtin_catalog

    _, store, report = real_import
    medmnist = {c.id: c for c in load_builtin_catalog(["medmnist"]).cards}
    if not medmnist:
        pytest.skip("the medmnist source is not installed")
    linked = [c for c in store.query_cards(source="published")
              if (c.extra["securitynet"]["same_as"] or "").startswith("medmnist/")]
    assert len(linked) == report.matched["medmnist"] == 174
    for card in linked:
        other = medmnist[card.extra["securitynet"]["same_as"]]
        assert (other.dataset, other.num_classes, other.train_size, other.name) == (
            card.dataset, card.num_classes, card.train_size, card.name), card.id


# --- duplicate rows and row problems, each reported with its line ---------------------------------

# In _document the Benchmark rows start on line 8, the Security rows two lines below the last of them.
FIRST_BENCH_LINE = 8


def _with_duplicates(tmp_path: Path) -> Path:
    bench, security = _small_rows()
    bench = [bench[0], bench[1], bench[0], bench[2], bench[0], bench[3]]  # row 1 again on lines 10 and 12
    path = tmp_path / "dupes.md"
    path.write_text(_document(bench, security), encoding="utf-8")
    return path


def test_duplicate_rows_are_kept_once_with_a_warning_per_row(tmp_path: Path, store: Store) -> None:
    report = import_securitynet_database(_with_duplicates(tmp_path), store)
    assert report.duplicates == 2 and report.benchmark == 4
    duplicate_warnings = [w for w in report.warnings if "duplicate of line" in w]
    assert len(duplicate_warnings) == 2
    assert "table 'Benchmark Models', line 10: duplicate of line 8" in duplicate_warnings[0]
    assert "line 12: duplicate of line 8" in duplicate_warnings[1]
    published = [m for m in store.model_ids() if m.startswith("securitynet/")]
    assert sum(1 for m in published if "resnet20_cifar10" in m) == 1  # not an extra resnet20_cifar10-2


def test_strict_refuses_duplicates_and_writes_nothing(tmp_path: Path, store: Store) -> None:
    with pytest.raises(TableRowsError) as info:
        import_securitynet_database(_with_duplicates(tmp_path), store, strict=True)
    assert [p.split(":")[0] for p in info.value.problems] == [
        "table 'Benchmark Models', line 10", "table 'Benchmark Models', line 12"]
    assert store.model_ids() == []


def test_every_row_problem_is_reported_with_its_line() -> None:
    bench, security = _small_rows()
    bench = _replace_cell(bench, 1, "Num Class", "ten")
    bench = _replace_cell(bench, 1, "Test Accuracy", "0.9x")  # a second problem in the same row
    bench = _replace_cell(bench, 3, "Year", "MMXVI")
    bench[2] = bench[2][:-1]  # a row with a cell too few
    with pytest.raises(TableRowsError) as info:
        parse_securitynet_database(_document(bench, security), source="gen.md")
    problems = info.value.problems
    assert len(problems) == 4
    assert problems[0] == "table 'Benchmark Models', line 9, column 'Num Class': 'ten' is not a whole number"
    assert problems[1] == "table 'Benchmark Models', line 9, column 'Test Accuracy': '0.9x' is not a number"
    assert problems[2].startswith("table 'Benchmark Models', line 10: row has 24 cells, the header has 25")
    assert problems[3] == "table 'Benchmark Models', line 11, column 'Year': 'MMXVI' is not a whole number"
    message = str(info.value)
    assert "\n" not in message and message.startswith("gen.md: 4 row problems, nothing imported")


def test_cli_lists_every_problem_then_one_error_line(tmp_path: Path) -> None:
    bench, security = _small_rows()
    bench = _replace_cell(_replace_cell(bench, 0, "Num Class", "ten"), 2, "Num Authors", "four")
    path = tmp_path / "bad.md"
    path.write_text(_document(bench, security), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(app, ["--db", url, "catalog", "import-securitynet", str(path)])
    assert result.exit_code == 1
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("table 'Benchmark Models', line 8, column 'Num Class'")
    assert lines[1].startswith("table 'Benchmark Models', line 10, column 'Num Authors'")
    assert " ".join(result.output.split()).endswith(f"error: {path}: 2 row problems, nothing imported")
    assert "Traceback" not in result.output


def test_cli_strict_and_default_on_duplicates(tmp_path: Path) -> None:
    path = _with_duplicates(tmp_path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    refused = CliRunner().invoke(app, ["--db", url, "catalog", "import-securitynet", "--strict", str(path)])
    assert refused.exit_code == 1 and "line 10: duplicate of line 8" in refused.output
    imported = CliRunner().invoke(app, ["--db", url, "catalog", "import-securitynet", str(path)])
    assert imported.exit_code == 0, imported.output
    assert " ".join(imported.output.split()).count("(identical cells); kept once") == 2


def test_structural_errors_still_stop_at_once() -> None:
    bench, security = _small_rows()
    with pytest.raises(TableFormatError, match="no table under a heading 'New Models'") as info:
        parse_securitynet_database(_document(bench, security).split("## New Models")[0], source="gen.md")
    assert not isinstance(info.value, TableRowsError)
