"""Card builders driven by data: a source's defaults once, each model's differences merged in."""

from __future__ import annotations

from securitynet.catalog.card import InputSpec, PaperInfo
from securitynet.catalog.sources.card_template import card_defaults, deep_merge, make_card, recorded_architecture

DEFAULTS = card_defaults(
    "demo", purpose="security", paper=PaperInfo(title="A paper", year=2020), tags=["demo"],
    input=InputSpec(channels=1, size=(28, 28)), weights={"format": "checkpoint", "inner_key": "model"},
    missing_reasons={"license": "none given"},
)


def test_a_card_is_the_defaults_with_its_differences_merged_in() -> None:
    card = make_card(DEFAULTS, id="demo/a", name="a", dataset="mnist", weights={"urls": ["https://x/a.pt"]},
                     missing_reasons={"weights.sha256": "not recorded"}, tags=["mnist", "run1"],
                     notes=["First sentence.", None, "Second one."], paper={"year": 2021})
    assert card.source == "demo" and card.purpose == "security" and card.output_kind == "logits"
    assert (card.weights.format, card.weights.inner_key, card.weights.urls) == ("checkpoint", "model",
                                                                                 ["https://x/a.pt"])
    assert card.missing_reasons == {"license": "none given", "weights.sha256": "not recorded"}
    assert card.tags == ["demo", "mnist", "run1"] and card.notes == "First sentence. Second one."
    assert (card.paper.title, card.paper.year) == ("A paper", 2021)


def test_every_card_gets_its_own_copy_of_the_defaults() -> None:
    first = make_card(DEFAULTS, id="demo/a", name="a", dataset="mnist")
    second = make_card(DEFAULTS, id="demo/b", name="b", dataset="mnist")
    first.input.size = (32, 32)
    first.missing_reasons["x"] = "y"
    first.tags.append("changed")
    assert second.input.size == (28, 28) and "x" not in second.missing_reasons and second.tags == ["demo"]
    assert DEFAULTS["tags"] == ["demo"] and "x" not in DEFAULTS["missing_reasons"]
    assert make_card(DEFAULTS, id="demo/c", name="c", dataset="mnist").notes is None


def test_deep_merge_and_recorded_architecture() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]}) == {"a": {"b": 1, "c": 3},
                                                                                          "d": [2]}
    recorded = {"architecture": "x:net", "model_type": "net", "family": "nets", "arch_kwargs": {"width": 2}}
    fields = recorded_architecture(recorded)
    fields["arch_kwargs"]["width"] = 4
    assert recorded["arch_kwargs"] == {"width": 2}
    assert recorded_architecture(recorded, arch_kwargs={"width": 8})["arch_kwargs"] == {"width": 8}
