"""timm's pretrained image classifiers, one card per pretrained tag, from the metadata the installed `timm` ships.

`timm.list_pretrained()` names every pretrained tag (``<architecture>.<tag>``); `get_pretrained_cfg` gives its
input size, mean/std, interpolation, crop (crop_pct), number of classes, license, paper ids and the Hugging Face
Hub repo holding its weights. Cards are made from that on first use (about a tenth of a second for all tags),
so they always describe the timm that is installed (pinned in pyproject.toml).

An image classifier is a tag whose pretrained head outputs class scores: `num_classes > 0`, and not an
image-text embedding tower (CLIP / SigLIP style heads project to an embedding of 384-1280 dimensions, which
timm stores as `num_classes`: a tag with "clip" in its name and no label set that timm knows). Tags with
`num_classes == 0` are feature extractors. Both kinds are counted (see `tag_counts`) but get no card.

Weights: the tag's Hub repo at `main` (`https://huggingface.co/<repo>/resolve/main/model.safetensors`,
safetensors first); the revision and the sha256 the Hub reports are pinned in the stored card on first fetch
(`zoo.hub_weights`). The few tags without a Hub repo keep timm's URL, checked by its torch.hub hash prefix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo, WeightsSpec
from securitynet.catalog.sources.card_template import card_defaults, make_card
from securitynet.catalog.sources.hub_files import HubFile
from securitynet.errors import CardError

SOURCE = "timm"
ID_PREFIX = f"{SOURCE}/"
ARCH_PREFIX = "timm:"
SAFETENSORS = "model.safetensors"
IMAGENET_1K = "imagenet-1k"
# timm's label-set names -> the dataset a card names (ImageNet-1k is the registered dataset `imagenet`).
DATASET_OF_LABEL_SET = {IMAGENET_1K: "imagenet"}
# torch.hub's file-name rule: `<name>-<first hex digits of the sha256>.<ext>`
HASH_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.(pth|pt|bin|pth\.tar)$")


def hub_url(repo_id: str, filename: str = SAFETENSORS, revision: str = "main") -> str:
    """The Hub's download URL of one file (the form `huggingface_hub.hf_hub_url` builds)."""
    return HubFile(repo_id, revision, filename).url


def torch_hub_hash_prefix(url: str) -> str | None:
    """The sha256 prefix torch.hub's `check_hash` reads from a file name, or None."""
    match = HASH_PREFIX.search(url.split("?")[0])
    return match.group(1) if match else None


def url_weights(url: str, **fields: Any) -> WeightsSpec:
    """Weights at one URL, with the sha256 prefix of a torch.hub file name as their source hash where it has one."""
    prefix = torch_hub_hash_prefix(url)
    return WeightsSpec(urls=[url], source_hash=prefix, source_hash_algo="sha256-prefix" if prefix else None, **fields)


def _cfg(tag: str) -> Any:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(tag)
    if cfg is None:
        raise CardError(f"timm {_timm_version()} has no pretrained tag {tag!r}; `timm.list_pretrained()` lists them")
    return cfg


def _timm_version() -> str:
    import timm

    return timm.__version__


def label_set(cfg: Any) -> str | None:
    """timm's name for the tag's label set (imagenet-1k, imagenet-12k, imagenet-22k, ...), None when unknown."""
    from timm.data import infer_imagenet_subset

    return infer_imagenet_subset(cfg)


def kind_of(tag: str, cfg: Any) -> str:
    """classifier, features (no head) or embedding (an image-text tower's projection)."""
    if not cfg.num_classes:
        return "features"
    if label_set(cfg) is None and "clip" in tag.lower():
        return "embedding"
    return "classifier"


@dataclass(frozen=True)
class TagCounts:
    timm_version: str
    pretrained: int
    classifiers: int
    features: int
    embeddings: int


def timm_pretrained_tags() -> list[str]:
    """The pretrained tags that timm itself ships, in timm's order.

    `timm.list_pretrained()` also lists tags that other packages register with timm when they are imported
    (robustbench registers 12 of its zoo models): those are the other source's models, not timm's, and counting
    them would make this source's cards depend on what happened to be imported first.
    """
    import timm
    from timm.models import get_arch_name, model_entrypoint

    return [
        tag for tag in timm.list_pretrained() if model_entrypoint(get_arch_name(tag)).__module__.startswith("timm.")
    ]


@lru_cache(maxsize=1)
def _kinds() -> dict[str, str]:
    return {tag: kind_of(tag, _cfg(tag)) for tag in timm_pretrained_tags()}


def classifier_tags() -> list[str]:
    """Every pretrained image-classifier tag of the installed timm, in timm's order."""
    return [tag for tag, kind in _kinds().items() if kind == "classifier"]


def tag_counts() -> TagCounts:
    kinds = list(_kinds().values())
    return TagCounts(_timm_version(), len(kinds), kinds.count("classifier"), kinds.count("features"),
                     kinds.count("embedding"))


def iter_cards() -> Iterator[ModelCard]:
    return (card_for_tag(tag) for tag in classifier_tags())


def card_for_id(tag: str) -> ModelCard | None:
    """The card `timm/<tag>` alone (None: no pretrained classifier tag of that exact name)."""
    return card_for_tag(tag) if tag in classifier_tags() else None


def card_id_of(tag: str) -> str:
    return f"{ID_PREFIX}{tag}"


def input_spec(cfg: Any) -> tuple[InputSpec, dict[str, str]]:
    """The evaluation transform of a pretrained config, and what of it a spec cannot say exactly.

    timm evaluates at `input_size` after resizing to floor(size / crop_pct) and centre-cropping (its
    `transforms_factory`); 'squash' resizes both sides to that size instead of the shorter one.
    """
    channels, height, width = cfg.input_size
    crop_pct = cfg.crop_pct or 1.0
    scale_size = math.floor(min(height, width) / crop_pct)
    interpolation = cfg.interpolation if cfg.interpolation in ("bilinear", "bicubic") else "bicubic"
    gaps: dict[str, str] = {}
    if cfg.interpolation != interpolation:
        gaps["input.interpolation"] = f"timm resizes with {cfg.interpolation!r}; bicubic is used instead"
    if cfg.crop_mode not in (None, "center"):
        gaps["input.resize_shorter"] = (f"timm's crop mode is {cfg.crop_mode!r} (both sides resized to {scale_size}); "
                                        "the spec resizes the shorter side, keeping the aspect")
    spec = InputSpec(
        channels=channels,
        size=(height, width),
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
        resize_shorter=scale_size if scale_size >= min(height, width) else None,
        center_crop=scale_size >= min(height, width),
        interpolation=interpolation,
    )
    return spec, gaps


def _paper(cfg: Any) -> tuple[PaperInfo, list[str]]:
    ids = [part.strip() for part in (cfg.paper_ids or "").split(",") if part.strip()] if isinstance(
        cfg.paper_ids, str) else list(cfg.paper_ids or [])
    url = None
    for paper_id in ids:
        if paper_id.lower().startswith("arxiv:"):
            url = f"https://arxiv.org/abs/{paper_id.split(':', 1)[1]}"
            break
        if paper_id.startswith("http"):
            url = paper_id
            break
    return PaperInfo(title=cfg.paper_name, url=url), ids


def weights_spec(cfg: Any) -> tuple[WeightsSpec, dict[str, str]]:
    if cfg.hf_hub_id:
        filename = cfg.hf_hub_filename or SAFETENSORS
        fmt = "safetensors" if filename.endswith(".safetensors") else "state_dict"
        missing = {"weights.sha256": "recorded from the Hub's LFS metadata on first fetch (then pinned with the "
                                     "revision)"}
        return WeightsSpec(urls=[hub_url(cfg.hf_hub_id, filename)], filename=filename, format=fmt), missing
    if cfg.url:
        spec = url_weights(cfg.url)
        missing = {} if spec.source_hash else {"weights.sha256": "timm's URL carries no hash; fetched weights are "
                                                                 "unverified"}
        return spec, missing
    return WeightsSpec(), {"weights.urls": "timm's pretrained config names no Hub repo and no URL"}


DEFAULTS = card_defaults(
    SOURCE, data_category="image", purpose="benchmark", tags=[SOURCE],
    missing_reasons={"train_size": "timm's config does not say which data (and how much) the weights were trained on",
                     "published.test_accuracy": "timm's pretrained config publishes no accuracy"},
)


def card_for_tag(tag: str) -> ModelCard:
    """The card of one pretrained tag (`<architecture>.<tag>`; a bare architecture means its default tag)."""
    cfg = _cfg(tag)
    if "." not in tag and cfg.tag:
        tag = f"{cfg.architecture}.{cfg.tag}"
    kind = kind_of(tag, cfg)
    if kind != "classifier":
        what = "a feature extractor (no classifier head)" if kind == "features" else "an image-text embedding tower"
        raise CardError(f"timm tag {tag!r} is {what}, not an image classifier")
    labels = label_set(cfg)
    spec, missing = input_spec(cfg)
    weights, weight_gaps = weights_spec(cfg)
    paper, paper_ids = _paper(cfg)
    if cfg.license is None:
        weight_gaps["license"] = "timm's pretrained config names no license"
    return make_card(
        DEFAULTS,
        id=card_id_of(tag),
        name=tag,
        architecture=f"{ARCH_PREFIX}{tag}",
        model_type=cfg.architecture,
        family=_family(cfg.architecture),
        dataset=DATASET_OF_LABEL_SET.get(labels or "", labels or "other"),
        num_classes=cfg.num_classes,
        input=spec,
        weights=weights,
        license=cfg.license,
        paper=paper,
        missing_reasons={**missing, **weight_gaps},
        extra={"label_set": labels or "other", "timm_version": _timm_version(), "hf_hub_id": cfg.hf_hub_id,
               "original_url": cfg.url, "crop_pct": cfg.crop_pct, "crop_mode": cfg.crop_mode, "paper_ids": paper_ids,
               "origin_url": cfg.origin_url},
    )


def _family(architecture: str) -> str | None:
    """The timm module that defines the architecture (resnet, vision_transformer, ...)."""
    return _module_of_architecture().get(architecture)


@lru_cache(maxsize=1)
def _module_of_architecture() -> dict[str, str]:
    import timm

    return {name: module for module in timm.list_modules() for name in timm.list_models(module=module)}
