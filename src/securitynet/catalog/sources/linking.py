"""Link a card of the published SecurityNet table to the card of the same model in a built-in source.

The published table says what a model is and what it scored, not how to load it: its Weights column points
at a project page. The built-in sources know how (architecture, input spec, weight files and hashes). A
published card therefore keeps its id, name and everything the table published (annotation, paper,
classes, training size, purpose), and takes from the matched source card what is needed to build, feed
and load the model:

    architecture, arch_kwargs, input, output_kind, weights, training_split (and license when unpublished)

``extra["matched_card"]`` (and ``extra["securitynet"]["same_as"]``) name the source card; the published
Weights link moves to ``extra["securitynet"]["weights_link"]``. Matching rules, one per source:

- imgclsmob rows -> ``pytorchcv/<name>`` by the pytorchcv source's ``match_published_name``;
- MedMNIST rows -> ``medmnist/<dataset>/<name without .pth>``;
- AdversaryLossLandscape rows -> ``adversary_loss_landscape/<name>-run<k>``, k = the row's occurrence of that
  name in table order (the table does not say which run a row is; see that source's notes);
- robust ImageNet rows -> ``robust_imagenet/<file stem>`` by the checkpoint file name.

A row that matches nothing is returned unchanged but for a reason in ``missing_reasons["architecture"]``.
"""

from __future__ import annotations

from typing import Any

from securitynet.catalog.builtin import builtin_card
from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources import adversary_loss_landscape, medmnist, pytorchcv, robust_imagenet

# Fields copied from the source card: what building, feeding and loading the model needs.
LOADING_FIELDS: tuple[str, ...] = ("architecture", "arch_kwargs", "input", "output_kind", "weights", "training_split")
# Missing reasons of the source card that describe copied fields (the published ones stay the table's own).
_COPIED_REASON_PREFIXES: tuple[str, ...] = ("weights", "architecture", "input")


def _published_facts(card: ModelCard) -> dict[str, Any]:
    return dict(card.extra.get("securitynet") or {})


def matched_card_id(card: ModelCard) -> str | None:
    """The id of the built-in card of the same model as a published card, or None."""
    facts = _published_facts(card)
    if facts.get("same_as"):
        return str(facts["same_as"])
    name, dataset = card.name.strip(), card.dataset
    if dataset in {flag for flag in medmnist.release()["archives"]}:
        stem = name.removesuffix(".pth")
        candidate = f"{medmnist.SOURCE}/{dataset}/{stem}"
        return candidate if builtin_card(candidate) is not None else None
    matched = pytorchcv.match_published_name(name, facts.get("data_name") or dataset)
    if matched:
        return f"{pytorchcv.ID_PREFIX}{matched}"
    occurrence = int(facts.get("occurrence") or 1)
    return (adversary_loss_landscape.match_published_row(name, dataset, occurrence)
            or robust_imagenet.match_published_name(name, dataset))


def link_published_card(card: ModelCard) -> ModelCard:
    """A copy of a published card that can be built and loaded like its matched source card."""
    facts = _published_facts(card)
    matched_id = matched_card_id(card)
    other = builtin_card(matched_id) if matched_id else None
    if other is None:
        reasons = dict(card.missing_reasons)
        reasons["architecture"] = (
            f"no built-in source card matches {card.name!r} ({card.dataset})"
            if matched_id is None else f"the matched card {matched_id} is not in its source"
        )
        return ModelCard.from_dict({**card.to_dict(), "missing_reasons": reasons})
    source = other.to_dict()
    update: dict[str, Any] = {name: source[name] for name in LOADING_FIELDS}
    reasons = {k: v for k, v in card.missing_reasons.items() if not k.startswith(_COPIED_REASON_PREFIXES)}
    reasons.update({k: v for k, v in other.missing_reasons.items() if k.startswith(_COPIED_REASON_PREFIXES)})
    if card.license is None and other.license is not None:
        update["license"] = other.license
        reasons.pop("license", None)
    disagreements = {
        field: {"published": getattr(card, field), "source": getattr(other, field)}
        for field in ("num_classes", "train_size", "dataset")
        if getattr(card, field) is not None and getattr(card, field) != getattr(other, field)
    }
    if "num_classes" in disagreements:
        # The architecture's head must fit the checkpoint; the published count stays in extra.
        update["num_classes"] = other.num_classes
    published_weights = card.weights.urls[0] if card.weights.urls else None
    facts.update({"same_as": other.id, "weights_link": published_weights})
    extra = dict(card.extra)
    extra["securitynet"] = facts
    extra["matched_card"] = other.id
    extra["link"] = {"source": other.source, "fields": list(LOADING_FIELDS), "disagreements": disagreements}
    update.update({
        "missing_reasons": reasons,
        "extra": extra,
        "tags": [*card.tags, f"linked:{other.source}"],
    })
    return ModelCard.from_dict({**card.to_dict(), **update}, origin=f"linking {card.id} to {other.id}")
