"""The RobustBench model zoo (robustbench.github.io): every model of the installed ``robustbench`` package's zoo
for CIFAR-10, CIFAR-100 and ImageNet (threat models Linf, L2, corruptions), one card each.

The facts come from ``catalog/cards/robustbench/robustbench_zoo.json``, written by
``scripts/robustbench_catalog.py``: the zoo entries of the installed package (Google Drive ids, timm-hosted weight
URLs, ImageNet preprocessing, the layout of the architecture the package builds) and the leaderboard's
``model_info`` files at a recorded commit of github.com/RobustBench/robustbench. Card ids are
``robustbench/<dataset>/<threat model>/<model>`` (``robustbench/cifar10/Linf/Carmon2019Unlabeled``).

Architectures are built by the package's own code (architecture ``robustbench``, see
``zoo.archs.robustbench_zoo``); models take images in [0, 1] and normalise inside, as RobustBench evaluates them.
The leaderboard's clean accuracy is the published test accuracy; its robust accuracy (AutoAttack, or an external
evaluation where the leaderboard uses one; the mean accuracy over corruptions for the corruptions track) is kept
as ``extra["robustbench"]["published_robust_accuracy"]``, a fraction like the clean accuracy, with a missing
reason where the leaderboard gives none. RobustBench records no checksums, so fetched weights are unverified.

``import robustbench`` fails with the package's PyPI dependencies: ``robustbench/__init__.py`` imports
``robustbench.eval``, which imports ``autoattack`` - a module the PyPI dependency ``pyautoattack`` does not provide
(it installs ``pyautoattack``) - and the data loaders, which need ``pkg_resources`` (setuptools < 81). Neither is
needed for the zoo, so `model_zoo` enters the package as a bare namespace (its ``__path__`` only, ``__init__`` not
run) and imports ``robustbench.model_zoo`` from it; when the real package is already imported (a fixed
robustbench), it is used as it is. The catalog itself reads only the data file; the zoo is imported to build
architectures and to compare the data file with the installed package.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from securitynet.catalog.builtin import source_cards
from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo, PublishedAnnotation, WeightsSpec
from securitynet.catalog.sources.card_template import card_defaults, make_card, recorded_data
from securitynet.catalog.sources.timm_hub import url_weights
from securitynet.errors import CardError

SOURCE = "robustbench"
ID_PREFIX = f"{SOURCE}/"
DATA_FILE = "robustbench/robustbench_zoo.json"
ARCHITECTURE = "robustbench"  # zoo.archs.robustbench_zoo (not imported here: the catalog does not import torch)

DATASETS: dict[str, dict[str, Any]] = {
    "cifar10": {"num_classes": 10, "train_size": 50_000, "size": (32, 32)},
    "cifar100": {"num_classes": 100, "train_size": 50_000, "size": (32, 32)},
    "imagenet": {"num_classes": 1000, "train_size": 1_281_167, "size": (224, 224)},
}
# model_info key of the leaderboard's robust accuracy per threat model, first present wins
# (robustbench.utils.ACC_FIELDS: an external evaluation replaces AutoAttack where the leaderboard has one).
ROBUST_ACCURACY_KEYS: dict[str, tuple[str, ...]] = {
    "Linf": ("external", "autoattack_acc"),
    "L2": ("external", "autoattack_acc"),
    "corruptions": ("corruptions_acc",),
}
LAST_STATE_MODELS = ("Andriushchenko2020Understanding", "Kireev2021Effectiveness")  # checkpoint["last"]
# Architecture families, most specific first, matched in the leaderboard's architecture text.
FAMILIES = ("convnextv2", "convnext", "swin", "xcit", "deit", "vit", "resnext", "resnest", "rawideresnet",
            "wideresnet", "preactresnet", "resnet", "alexnet")
_VENUE = re.compile(r"^(?P<venue>.+?)[,\s]*(?:<br>)?\s*(?:[A-Z][a-z]{2}\.?\s+)?(?P<year>\d{4})$")


@cache
def model_zoo() -> types.ModuleType:
    """``robustbench.model_zoo`` without running ``robustbench/__init__.py`` (see the module docstring)."""
    if "robustbench" not in sys.modules:
        spec = importlib.util.find_spec("robustbench")
        if spec is None or spec.submodule_search_locations is None:
            raise CardError("the robustbench package is not installed (pip install robustbench==1.1.1)")
        package = types.ModuleType("robustbench")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        sys.modules["robustbench"] = package
    import torch

    # Imported on the CPU even when first asked for inside a meta-device context (a shapes-only build): the zoo's
    # dependencies make module-level tensors at import (torchdiffeq's solver tables), which must hold data.
    with torch.device("cpu"):
        return importlib.import_module("robustbench.model_zoo")


def zoo_entries() -> dict[tuple[str, str], Mapping[str, Mapping[str, Any]]]:
    """(dataset, threat model) -> {model name: zoo entry}, as ``robustbench.model_zoo.model_dicts`` holds them."""
    dicts = model_zoo().model_dicts
    return {(dataset.value, threat.value): models for dataset, threats in dicts.items()
            for threat, models in threats.items()}


def zoo_data() -> dict[str, Any]:
    """The recorded zoo and leaderboard facts (robustbench/robustbench_zoo.json)."""
    return recorded_data(DATA_FILE)


def card_id_of(dataset: str, threat_model: str, model: str) -> str:
    return f"{ID_PREFIX}{dataset}/{threat_model}/{model}"


def iter_cards() -> Iterator[ModelCard]:
    data = zoo_data()
    return (_card(dataset, threat, model, entry, data["model_info"].get(dataset, {}).get(threat, {}).get(model))
            for dataset, threats in data["zoo"].items()
            for threat, models in threats.items()
            for model, entry in models.items())


def cards_by_id() -> dict[str, ModelCard]:
    return {card.id: card for card in source_cards(__name__)}


# --- reading the leaderboard's values ----------------------------------------------------------------------


def percent(value: Any) -> float | None:
    """A published percentage ("89.69") as a fraction; None for a blank or non-numeric entry."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number / 100, 6) if 0 <= number <= 100 else None


def venue_and_year(text: str | None) -> tuple[str | None, int | None]:
    """'NeurIPS 2019' -> ('NeurIPS', 2019); 'arXiv, Mar 2021' -> ('arXiv', 2021); 'N/A' -> (None, None)."""
    match = _VENUE.match((text or "").strip())
    return (match["venue"].strip(), int(match["year"])) if match else (None, None)


def family_of(architecture: str | None) -> str | None:
    squashed = re.sub(r"[^a-z0-9]", "", (architecture or "").lower())
    return next((family for family in FAMILIES if family in squashed), None)


def _robust_accuracy(threat: str, info: dict[str, Any]) -> tuple[float | None, str | None]:
    for key in ROBUST_ACCURACY_KEYS[threat]:
        value = percent(info.get(key))
        if value is not None:
            return value, key
    return None, None


# --- cards -------------------------------------------------------------------------------------------------


def _input(dataset: str, facts: dict[str, Any]) -> tuple[InputSpec, str | None]:
    """The card's input spec, and what of RobustBench's preprocessing it cannot say (None when exact)."""
    if dataset != "imagenet":
        return InputSpec(channels=3, size=DATASETS[dataset]["size"], scale=1 / 255), None
    size = (facts["size"], facts["size"])
    resize = {"resize_shorter": facts["resize_shorter"], "center_crop": True} if facts["resize_shorter"] else {}
    spec = InputSpec(channels=3, size=size, scale=1 / 255, interpolation=facts.get("interpolation", "bilinear"),
                     **resize)
    if facts["center_crop"] and facts["resize_shorter"] is None:
        return spec, (f"RobustBench centre-crops {facts['size']}x{facts['size']} without resizing first; images of "
                      "another size are resized to it here instead")
    return spec, None


def _weights(model: str, zoo: dict[str, Any], template: str) -> tuple[WeightsSpec, dict[str, str], str]:
    """The weights spec, its missing reasons, and where the weights are, in words."""
    missing = {"weights.sha256": "RobustBench records no checksum for its checkpoints; fetched weights are "
               "unverified", "weights.size_bytes": "not recorded"}
    inner_key = "last" if model.startswith(LAST_STATE_MODELS) else None
    hosted = zoo.get("timm") or zoo.get("torchvision_weights")
    if hosted:
        url = hosted["url"]
        # torch.hub file names carry a sha256 prefix (torchvision's AlexNet, R50)
        spec = url_weights(url, filename=url.rsplit("/", 1)[-1], format="checkpoint")
        if spec.source_hash:
            missing["weights.sha256"] = "published as the sha256 prefix in the file name only (checked)"
        where = (f"the checkpoint of timm model {zoo['timm']['name']}, which RobustBench registers" if zoo.get("timm")
                 else f"torchvision's {hosted['enum']} (RobustBench's standard ResNet-50)")
        return spec, missing, where
    ids = zoo["gdrive_ids"]
    if zoo["ensemble"]:
        missing["weights.urls"] = (f"an ensemble of {len(ids)} checkpoints, each loaded into its own member by "
                                   "RobustBench; a card loads one weight file, so these weights cannot be loaded yet "
                                   "(the Google Drive ids are in extra.robustbench.gdrive_ids)")
        return WeightsSpec(format="checkpoint"), missing, f"{len(ids)} Google Drive files (an ensemble)"
    return (WeightsSpec(urls=[template.format(id=ids[0])], filename=f"{model}.pt", format="checkpoint",
                        inner_key=inner_key), missing, f"Google Drive file {ids[0]}")


DEFAULTS = card_defaults(
    SOURCE, architecture=ARCHITECTURE, data_category="natural", license=None, purpose="security", tags=[SOURCE],
    missing_reasons={
        "published.train_accuracy": "RobustBench publishes no training accuracy",
        "published.overfit_gap": "needs the training accuracy, which RobustBench does not publish",
        "license": "RobustBench records no license per model",
    },
)


def _card(dataset: str, threat: str, model: str, zoo: dict[str, Any], info: dict[str, Any] | None) -> ModelCard:
    data = zoo_data()
    info = info or {}
    where_info = f"model_info/{dataset}/{threat}/{model}.json at {data['commit'][:12]}"
    clean = percent(info.get("clean_acc"))
    robust, robust_key = _robust_accuracy(threat, info)
    input_spec, input_gap = _input(dataset, zoo["input"])
    weights, weight_missing, weight_origin = _weights(model, zoo, data["gdrive_url_template"])
    venue, year = venue_and_year(info.get("venue"))
    authors = [name for name in re.split(r",\s*|\s+and\s+", info.get("authors") or "") if name.strip()]
    architecture_text = info.get("architecture")
    extra_data = bool(info.get("additional_data"))
    return make_card(
        DEFAULTS,
        id=card_id_of(dataset, threat, model),
        name=model,
        arch_kwargs={"dataset": dataset, "threat_model": threat, "model": model},
        model_type=architecture_text,
        family=family_of(architecture_text),
        dataset=dataset,
        num_classes=DATASETS[dataset]["num_classes"],
        train_size=None if extra_data else DATASETS[dataset]["train_size"],
        input=input_spec,
        weights=weights,
        paper=PaperInfo(title=info.get("name"), url=info.get("link"), venue=venue, year=year,
                        num_authors=len(authors) or None),
        published=PublishedAnnotation(
            test_accuracy=clean,
            source=f"RobustBench leaderboard, {where_info}: clean accuracy on the {dataset} test set"
            + (" (5,000 images)" if dataset == "imagenet" else ""),
        ),
        missing_reasons={
            **({} if clean is not None else {"published.test_accuracy": f"no clean accuracy in {where_info}" if info
                                             else f"the leaderboard has no {where_info}"}),
            **({} if robust is not None else {"extra.robustbench.published_robust_accuracy":
                                              f"no {' or '.join(ROBUST_ACCURACY_KEYS[threat])} in {where_info}"}),
            **({"input.center_crop": input_gap} if input_gap else {}),
            **weight_missing,
            **({"train_size": f"trained with data beyond the {dataset} training set (the leaderboard's "
                              "'additional_data'); how many images is not recorded"} if extra_data else {}),
        },
        tags=[dataset, threat.lower()] + ["additional-data"] * extra_data + ["ensemble"] * bool(zoo["ensemble"]),
        notes=[_notes(dataset, threat, model, architecture_text, weight_origin, info, zoo)],
        extra={SOURCE: {
            "repository": data["repository"], "commit": data["commit"], "package": data["package"],
            "dataset": dataset, "threat_model": threat, "model": model, "gdrive_ids": zoo["gdrive_ids"],
            "timm": zoo.get("timm"), "preprocessing": zoo.get("preprocessing"), "layout": zoo["layout"],
            "published_robust_accuracy": robust, "published_robust_accuracy_key": robust_key,
            "published_reported_robust_accuracy": percent(info.get("reported")), "eps": info.get("eps"),
            "leaderboard": info or None,
        }},
    )


def _notes(dataset: str, threat: str, model: str, architecture_text: str | None, weight_origin: str,
           info: dict[str, Any], zoo: dict[str, Any]) -> str:
    notes = [f"RobustBench {dataset} {threat} model {model}", f"architecture {architecture_text}" if
             architecture_text else None, f"weights: {weight_origin}",
             "inputs in [0, 1]; the model normalises them itself"]
    if info.get("footnote"):
        notes.append(f"leaderboard footnote: {info['footnote']}")
    if zoo["layout"].get("build_error"):
        notes.append(f"the architecture did not build where the zoo was recorded: {zoo['layout']['build_error']}")
    return ". ".join(note for note in notes if note) + "."
