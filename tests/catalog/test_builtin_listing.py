"""The built-in catalog as far as it is installed, card filters, and card export formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from securitynet.catalog.builtin import load_builtin_catalog, register_builtin_cards
from securitynet.catalog.card import ModelCard, PaperInfo
from securitynet.catalog.listing import CardFilter, cards_frame, render_cards, select_cards
from securitynet.errors import CardError
from securitynet.store import Store


def _card(card_id: str, **fields) -> ModelCard:
    base = {"id": card_id, "name": card_id.split("/")[-1], "source": "test", "dataset": "mnist"}
    return ModelCard.from_dict({**base, **fields})


def _write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body, encoding="utf-8")


def test_missing_source_module_is_skipped_but_a_broken_one_raises(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "sn_test_source_ok", (
        "from securitynet.catalog.card import ModelCard\n"
        "def iter_cards():\n"
        "    yield ModelCard(id='t/a', name='a', source='t', dataset='mnist')\n"
    ))
    _write_module(tmp_path, "sn_test_source_broken", "import sn_dependency_that_does_not_exist\n")
    catalog = load_builtin_catalog(("sn_test_source_ok", "sn_test_source_absent"))
    assert [c.id for c in catalog.cards] == ["t/a"]
    assert catalog.skipped == ["sn_test_source_absent"] and catalog.sources == {"sn_test_source_ok": 1}
    with pytest.raises(ModuleNotFoundError, match="sn_dependency_that_does_not_exist"):
        load_builtin_catalog(("sn_test_source_broken",))
    with pytest.raises(CardError, match="t/a comes from two built-in sources"):
        load_builtin_catalog(("sn_test_source_ok", "sn_test_source_ok"))


def test_register_builtin_cards_writes_installed_cards(store: Store, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "sn_test_source_two", (
        "from securitynet.catalog.card import ModelCard\n"
        "def iter_cards():\n"
        "    for i in range(2):\n"
        "        yield ModelCard(id=f't/m{i}', name=f'm{i}', source='t', dataset='mnist')\n"
    ))
    assert register_builtin_cards(store, ("sn_test_source_two", "sn_test_source_absent")) == 2
    assert register_builtin_cards(store, ("sn_test_source_two",)) == 2  # replaced, not duplicated
    assert store.model_ids() == ["t/m0", "t/m1"]


def test_filter_matches_like_the_store_query(store: Store) -> None:
    cards = [
        _card("a/resnet", architecture="pytorchcv:resnet20_cifar10", family="resnet", dataset="cifar10",
              purpose="benchmark", paper=PaperInfo(venue="CVPR", year=2016).model_dump()),
        _card("a/vgg", model_type="vgg", family="vgg", purpose="security",
              paper=PaperInfo(venue="NeurIPS", year=2020).model_dump()),
        _card("a/none"),
    ]
    store.upsert_cards(cards)
    filters = [CardFilter(architecture="RESNET"), CardFilter(architecture="vgg"), CardFilter(dataset="MNIST"),
               CardFilter(venue="cvpr", year=2016), CardFilter(purpose="security"), CardFilter(year=2019),
               CardFilter(source="TEST", family="vgg")]
    for card_filter in filters:
        in_python = [c.id for c in cards if card_filter.matches(c)]
        in_sql = [c.id for c in store.query_cards(**card_filter.as_query())]
        assert sorted(in_python) == in_sql, card_filter


def test_stored_card_wins_over_builtin_with_the_same_id(store: Store) -> None:
    store.upsert_card(_card("a/x", dataset="cifar10"))
    builtin = [_card("a/x", dataset="mnist"), _card("b/y")]
    assert [(c.id, c.dataset) for c in select_cards(store, CardFilter(), builtin)] == [("a/x", "cifar10"),
                                                                                        ("b/y", "mnist")]
    assert [c.id for c in select_cards(store, CardFilter(dataset="mnist"), builtin)] == ["b/y"]


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
