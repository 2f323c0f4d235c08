"""Model queries (`select_cards`): ids, globs, key=value filters, store over built-in, missing sources."""

from __future__ import annotations

import pytest

from securitynet.catalog import query as query_module
from securitynet.catalog.card import ModelCard, PaperInfo, WeightsSpec
from securitynet.catalog.query import filter_cards, parse_query, select_cards
from securitynet.errors import QueryError, UnknownModelError


def card(card_id: str, dataset: str, **fields: object) -> ModelCard:
    return ModelCard(id=card_id, name=card_id.split("/")[-1], dataset=dataset, **fields)


CARDS = [
    card("pytorchcv/resnet20_cifar10", "cifar10", source="pytorchcv", architecture="pytorchcv:resnet20_cifar10",
         model_type="resnet", purpose="benchmark", paper=PaperInfo(venue="CVPR", year=2016),
         weights=WeightsSpec(format="zip")),
    card("pytorchcv/resnet56_svhn", "svhn", source="pytorchcv", architecture="pytorchcv:resnet56_svhn",
         model_type="resnet", purpose="benchmark", paper=PaperInfo(venue="CVPR", year=2016)),
    card("pytorchcv/wrn16_10_cifar10", "cifar10", source="pytorchcv", architecture="pytorchcv:wrn16_10_cifar10",
         model_type="wrn", purpose="benchmark"),
    card("file/lenet5_clean", "mnist", source="file", architecture="mnist_lenet5", purpose="security",
         tags=["public", "clean"]),
    card("file/badnet", "mnist", source="file", architecture="mnist_badnet", purpose="security", tags=["backdoor"]),
]


def ids(cards: list[ModelCard]) -> list[str]:
    return [c.id for c in cards]


def test_ids_globs_and_their_union():
    assert ids(filter_cards(CARDS, "file/badnet")) == ["file/badnet"]
    assert ids(filter_cards(CARDS, "pytorchcv/resnet*")) == ["pytorchcv/resnet20_cifar10", "pytorchcv/resnet56_svhn"]
    assert ids(filter_cards(CARDS, "file/badnet, pytorchcv/wrn*")) == ["file/badnet", "pytorchcv/wrn16_10_cifar10"]
    assert len(filter_cards(CARDS, "*")) == len(CARDS)


def test_filters_are_case_insensitive_globs_and_all_must_hold():
    assert ids(filter_cards(CARDS, "dataset=MNIST")) == ["file/badnet", "file/lenet5_clean"]
    assert ids(filter_cards(CARDS, "source=pytorchcv,dataset=cifar10")) == [
        "pytorchcv/resnet20_cifar10", "pytorchcv/wrn16_10_cifar10"]
    # architecture matches the id, the id without its library prefix, the model type or the family
    assert ids(filter_cards(CARDS, "architecture=resnet*,dataset=cifar*")) == ["pytorchcv/resnet20_cifar10"]
    assert ids(filter_cards(CARDS, "arch=mnist_*")) == ["file/badnet", "file/lenet5_clean"]
    assert ids(filter_cards(CARDS, "year=2016 venue=cvpr")) == ["pytorchcv/resnet20_cifar10", "pytorchcv/resnet56_svhn"]
    assert ids(filter_cards(CARDS, "format=zip")) == ["pytorchcv/resnet20_cifar10"]
    assert ids(filter_cards(CARDS, "tags=backdoor")) == ["file/badnet"]
    assert ids(filter_cards(CARDS, "year=none,source=pytorchcv")) == ["pytorchcv/wrn16_10_cifar10"]
    assert ids(filter_cards(CARDS, "pytorchcv/*,dataset=svhn")) == ["pytorchcv/resnet56_svhn"]
    assert filter_cards(CARDS, "dataset=imagenet") == []


def test_malformed_queries_are_query_errors():
    for bad in ["", "   ", "dataset=", "=mnist", "colour=blue", "paper=cvpr", "weights.nothing=1"]:
        with pytest.raises(QueryError):
            filter_cards(CARDS, bad)
    assert parse_query("a/b, dataset=mnist x/*") == (["a/b", "x/*"], [("dataset", "mnist")])


def test_select_cards_merges_store_over_builtin_and_says_what_is_missing(store, monkeypatch: pytest.MonkeyPatch):
    from securitynet.catalog import builtin

    monkeypatch.setattr(builtin, "load_builtin_catalog", lambda prefixes=None: builtin.BuiltinCatalog(list(CARDS)))
    override = CARDS[3].model_copy(update={"dataset": "fashion_mnist"})
    store.upsert_cards([override, card("mine/self_trained", "digits", source="self-trained")])

    assert ids(select_cards("dataset=fashion_mnist", store)) == ["file/lenet5_clean"]
    assert ids(select_cards("dataset=mnist", store)) == ["file/badnet"]
    assert ids(select_cards("mine/*", store)) == ["mine/self_trained"]
    with pytest.raises(UnknownModelError, match="no model card with id 'file/nothing'"):
        select_cards("file/nothing", store)
    with pytest.raises(UnknownModelError, match="no model card matches"):
        select_cards("dataset=imagenet", store)


def test_a_source_module_that_is_not_there_yet_is_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch):
    from securitynet.catalog import sources

    wanted = ("securitynet.catalog.sources.yaml_cards", "securitynet.catalog.sources.not_written_yet")
    monkeypatch.setattr(sources, "BUILTIN_SOURCES", wanted)
    for query in ("dataset=*", "file/*"):  # every source, or the one the prefix names
        with pytest.warns(UserWarning, match="not_written_yet is not installed"):
            cards = select_cards(query)
    assert cards and all(c.source == "file" for c in cards)


def test_ids_with_a_literal_source_prefix_build_only_that_source(monkeypatch: pytest.MonkeyPatch):
    from securitynet.catalog import builtin

    asked: list[list[str] | None] = []
    real = builtin.load_builtin_catalog
    monkeypatch.setattr(builtin, "load_builtin_catalog", lambda prefixes=None: asked.append(prefixes) or real(prefixes))
    assert ids(select_cards("file/*, file/nothing")) and asked == [["file"]]
    assert query_module.Query.parse("file/*,pytorchcv/x dataset=mnist").id_prefixes() == ["file", "pytorchcv"]
    for anywhere in ("dataset=mnist", "*/resnet*", "resnet20", "file/*,py*/x"):
        assert query_module.Query.parse(anywhere).id_prefixes() is None, anywhere
