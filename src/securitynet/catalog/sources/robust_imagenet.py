"""The robust ImageNet classifiers of "Do Adversarially Robust ImageNet Models Transfer Better?" (Salman,
Ilyas, Engstrom, Kapoor, Madry; NeurIPS 2020, arXiv 2007.08489), github.com/microsoft/robust-models-transfer.

One card per checkpoint of the repository README (``catalog/cards/robust_imagenet_release.json``): L2-robust
ResNet-18/50 and Wide-ResNet-50-2/4 at ten budgets, L2-robust DenseNet-161, MNASNet, MobileNet-v2,
ResNeXt-50, ShuffleNet-v2 and VGG-16-BN at eps 0 and 3, and Linf-robust ResNet-18/50 and Wide-ResNet-50-2 at
five budgets. Card ids are ``robust_imagenet/<file stem>`` (``robust_imagenet/resnet18_l2_eps3``); names are the
file names, as the published SecurityNet table spells them (``resnet18_l2_eps3.ckpt``).

The checkpoints are robustness-library checkpoints: the state dict under ``model`` wraps the classifier with
a normaliser and an attacker copy of the classifier. The card keeps only the classifier (``key_prefix``
``module.model.``, or ``module.model.model.`` for the torchvision architectures robust-models-transfer wraps
once more) and applies the normalisation in preprocessing instead: the evaluation transform (shorter side
256, centre crop 224), inputs in [0, 1], ImageNet mean/std. Wide-ResNet-50-4 is torchvision's ResNet-50 with
256 channels per bottleneck group, exactly the robustness library's definition.

Weights come from the authors' Hugging Face re-upload first (the README's Azure URLs carry a SAS token that
expired in 2021; they stay as the second, published URL); sha256 values are those of the Hugging Face LFS
pointers where they could be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from securitynet.catalog.builtin import source_cards
from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo, PublishedAnnotation
from securitynet.catalog.sources.card_template import card_defaults, make_card, recorded_architecture, recorded_data
from securitynet.errors import CardError

SOURCE = "robust_imagenet"
ID_PREFIX = f"{SOURCE}/"
IMAGENET_TRAIN_SIZE = 1_281_167
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT = InputSpec(channels=3, size=(224, 224), scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                  resize_shorter=256, center_crop=True)
CHECKPOINT_KEY = "model"

PAPER = PaperInfo(
    title="Do Adversarially Robust ImageNet Models Transfer Better?",
    url="https://arxiv.org/abs/2007.08489",
    # As annotated in the SecurityNet table (the analysis groups by these).
    venue="NeurIPS",
    venue_type="ML",
    year=2020,
    country="USA",
    num_authors=5,
)


def release() -> dict[str, Any]:
    """The recorded facts about the release (robust_imagenet_release.json)."""
    return recorded_data("robust_imagenet_release.json")


def layout() -> dict[str, Any]:
    """Recorded layouts of the robustness-built classifiers (robust_imagenet_layout.json)."""
    return recorded_data("robust_imagenet_layout.json")


def card_id_of(file_name: str) -> str:
    return f"{ID_PREFIX}{file_name.removesuffix('.ckpt')}"


def iter_cards() -> Iterator[ModelCard]:
    return (_card(entry) for entry in release()["checkpoints"])


def cards_by_id() -> dict[str, ModelCard]:
    return {card.id: card for card in source_cards(__name__)}


DEFAULTS = card_defaults(
    SOURCE, dataset="imagenet", data_category="natural", num_classes=1000, train_size=IMAGENET_TRAIN_SIZE,
    input=INPUT, paper=PAPER, purpose="security", tags=[SOURCE, "adversarial-training", "imagenet"],
    weights={"format": "checkpoint", "inner_key": CHECKPOINT_KEY, "strict": True},
    missing_reasons={
        "published.train_accuracy": "the release publishes only the validation accuracy",
        "published.overfit_gap": "needs the training accuracy, which the release does not publish",
        "weights.size_bytes": "not recorded",
    },
)


def _card(entry: dict[str, Any]) -> ModelCard:
    facts = release()
    arch = facts["architectures"].get(entry["arch"])
    if arch is None:
        raise CardError(f"robust ImageNet checkpoint {entry['file']}: no recorded architecture {entry['arch']!r}")
    sha256 = entry.get("sha256")
    accuracy = entry["top1_accuracy_percent"]
    return make_card(
        DEFAULTS,
        id=card_id_of(entry["file"]),
        name=entry["file"],
        **recorded_architecture(arch),
        weights={"urls": [facts["huggingface"]["url_template"].format(file=entry["file"]), entry["published_url"]],
                 "filename": entry["file"], "sha256": sha256, "key_prefix": arch["key_prefix"]},
        license=facts["license"],
        published=PublishedAnnotation(
            test_accuracy=round(accuracy / 100, 6),
            source=f"robust-models-transfer README ({facts['commit'][:12]}): top-1 {accuracy:.2f}% on the "
            "ImageNet validation set",
        ),
        missing_reasons={} if sha256 else {
            "weights.sha256": "the Hugging Face LFS pointer of this file could not be read when this card was "
                              "written; fetched weights are unverified"},
        tags=[entry["norm"], f"eps{entry['eps']}"],
        notes=_notes(entry, arch, sha256),
        extra={SOURCE: {
            "repository": facts["repository"], "commit": facts["commit"], "file": entry["file"],
            "arch": entry["arch"], "threat_model": entry["norm"], "eps": entry["eps"],
            "eps_units": facts["threat_models"][entry["norm"]], "built_by": arch["built_by"],
            "huggingface_commit": facts["huggingface"]["commit"],
        }},
    )


def _notes(entry: dict[str, Any], arch: dict[str, Any], sha256: str | None) -> list[str]:
    norm = "L2" if entry["norm"] == "l2" else "Linf"
    eps_text = entry["eps"] if entry["norm"] == "l2" else f"{entry['eps']}/255"
    trained = (f"trained on ImageNet-1k without adversarial examples ({norm} eps 0, the paper's standard baseline)"
               if float(entry["eps"]) == 0 else f"adversarially trained on ImageNet-1k with {norm} PGD, eps {eps_text}")
    notes = [
        f"{arch['title']} {trained}.",
        f"robustness-library checkpoint: the classifier is the state dict under '{CHECKPOINT_KEY}' at "
        f"'{arch['key_prefix']}'; the normaliser and the attacker's copy of the classifier are dropped and the "
        "ImageNet normalisation is applied in preprocessing instead.",
    ]
    if arch["built_by"] == "torchvision":
        notes.append(f"torchvision {arch['torchvision_constructor']} wrapped in robustness' DummyModel by "
                     "robust-models-transfer, hence the doubled 'model.'.")
    if sha256:
        notes.append("sha256 from the Hugging Face re-upload's LFS pointer.")
    return notes


# --- matching rows of the published SecurityNet table ---------------------------------------------------


def match_published_name(name: str, dataset: str) -> str | None:
    """The card id of a published row, by checkpoint file name (``resnet18_l2_eps3.ckpt``)."""
    if dataset != "imagenet":
        return None
    card_id = card_id_of(name.strip())
    return card_id if card_id in cards_by_id() else None
