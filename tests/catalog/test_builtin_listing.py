"""The built-in catalog as far as it is installed, finding a card, and card export formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from securitynet.catalog.builtin import (
    BuiltinCatalog,
    CardConflictError,
    builtin_card,
    find_card,
    load_builtin_catalog,
    register_builtin_cards,
)
from securitynet.catalog.card import ModelCard
from securitynet.catalog.listing import cards_frame, render_cards
from securitynet.catalog.query import Query, select_cards
from securitynet.errors import CardError, UnknownModelError
from securitynet.store import Store


def _card(card_id: str, **fields) -> ModelCard:
    base = {"id": card_id, "name": card_id.split("/")[-1], "source": "test", "dataset": "mnist"}
    return ModelCard.from_dict({**base, **fields})


def _write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body, encoding="utf-8")


def _sources(monkeypatch, *modules: str) -> None:
    from securitynet.catalog import sources

    monkeypatch.setattr(sources, "BUILTIN_SOURCES", modules)


def _source(folder: Path, name: str, prefix: str, ids: list[str]) -> None:
    _write_module(folder, name, (
        "from securitynet.catalog.card import ModelCard\n"
        f"ID_PREFIX = {prefix!r}\n"
        "def iter_cards():\n"
        f"    for i in {ids!r}:\n"
        "        yield ModelCard(id=i, name=i.split('/')[-1], source='t', dataset='mnist')\n"
    ))


def test_missing_source_module_is_skipped_but_a_broken_one_raises(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _source(tmp_path, "sn_test_source_ok", "t/", ["t/a"])
    _source(tmp_path, "sn_test_source_stray", "w/", ["t/b"])
    _write_module(tmp_path, "sn_test_source_broken", "ID_PREFIX = 'b/'\nimport sn_dependency_that_does_not_exist\n")
    _sources(monkeypatch, "sn_test_source_ok", "sn_test_source_absent")
    for prefixes in (None, ["t", "x"]):
        catalog = load_builtin_catalog(prefixes)
        assert [c.id for c in catalog.cards] == ["t/a"]
        assert catalog.skipped == ["sn_test_source_absent"] and catalog.sources == {"sn_test_source_ok": 1}
    assert find_card("t/a").id == "t/a" and builtin_card("x/a") is None and builtin_card("nobody/a") is None
    with pytest.raises(UnknownModelError, match="no model card with id 't/b'"):
        find_card("t/b")
    _sources(monkeypatch, "sn_test_source_broken")
    with pytest.raises(ModuleNotFoundError, match="sn_dependency_that_does_not_exist"):
        load_builtin_catalog(["b"])
    _sources(monkeypatch, "sn_test_source_stray")
    with pytest.raises(CardError, match="t/b from sn_test_source_stray lacks its source's id prefix w/"):
        load_builtin_catalog(["w"])


def test_a_card_id_two_sources_give_is_a_conflict() -> None:
    catalog = BuiltinCatalog()
    catalog.add("one", [_card("t/a")])
    with pytest.raises(CardConflictError, match="t/a comes from two built-in sources: one and two"):
        catalog.add("two", [_card("t/b"), _card("t/a")])
    assert [c.id for c in catalog.cards] == ["t/a"]  # all of a source's cards or none


def test_only_the_sources_of_the_prefixes_asked_for_are_built(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _source(tmp_path, "sn_test_source_one", "one/", ["one/a"])
    _write_module(tmp_path, "sn_test_source_boom", (
        "ID_PREFIX = 'boom/'\n"
        "def iter_cards():\n"
        "    raise RuntimeError('built although nobody asked')\n"
    ))
    _sources(monkeypatch, "sn_test_source_one", "sn_test_source_boom")
    assert [c.id for c in load_builtin_catalog(["one", "elsewhere"]).cards] == ["one/a"]
    assert find_card("one/a").id == "one/a" and builtin_card("elsewhere/a") is None


def test_register_builtin_cards_writes_installed_cards(store: Store, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _source(tmp_path, "sn_test_source_two", "t/", ["t/m0", "t/m1"])
    _sources(monkeypatch, "sn_test_source_two", "sn_test_source_absent")
    assert register_builtin_cards(store) == 2
    assert register_builtin_cards(store, ["t"]) == 2  # replaced, not duplicated
    assert store.model_ids() == ["t/m0", "t/m1"]


def test_stored_card_wins_over_builtin_with_the_same_id(store: Store, monkeypatch) -> None:
    from securitynet.catalog import builtin

    store.upsert_card(_card("a/x", dataset="cifar10"))
    cards = [_card("a/x", dataset="mnist"), _card("b/y")]
    monkeypatch.setattr(builtin, "load_builtin_catalog", lambda prefixes=None: builtin.BuiltinCatalog(cards))
    assert [(c.id, c.dataset) for c in select_cards(Query(), store)] == [("a/x", "cifar10"), ("b/y", "mnist")]
    assert [c.id for c in select_cards(Query(filters=(("dataset", "mnist"),)), store)] == ["b/y"]
    assert [c.id for c in select_cards(Query(), store, builtin=False)] == ["a/x"]
    assert find_card("a/x", store).dataset == "cifar10"


def test_csv_keeps_missing_numbers_missing_and_json_keeps_whole_cards() -> None:
    cards = [_card("a/known", num_classes=10, train_size=60000), _card("a/unknown",
                                                                       missing_reasons={"num_classes": "why"})]
    frame = pd.read_csv(io.StringIO(render_cards(cards, "csv")))
    assert frame.num_classes.tolist()[0] == 10 and pd.isna(frame.num_classes.tolist()[1])
    assert json.loads(frame.missing_reasons.tolist()[1]) == {"num_classes": "why"}
    assert str(cards_frame(cards).num_classes.dtype) == "Int64"
    again = [ModelCard.from_dict(d) for d in json.loads(render_cards(cards, "json"))]
    assert again == cards
    with pytest.raises(ValueError, match="unknown format"):
        render_cards(cards, "xml")  # type: ignore[arg-type]
