"""Any Hugging Face Hub repo that holds a timm model: its `config.json` (as `timm`'s `push_to_hf_hub` writes it)
plus weights (`model.safetensors`, else `pytorch_model.bin`). `securitynet catalog add hf-hub:<repo_id>` makes the card.

config.json names the timm `architecture`, `num_classes`, optional `model_args` and `label_names`, and a
`pretrained_cfg` with the input size, mean/std, interpolation and crop, read as for timm's own tags
(`timm_hub.input_spec`). The card builds `timm:<architecture>` with that pretrained config and model args, and
its weights are the repo's file at the revision config.json was read from (`zoo.hub_weights` then records the
sha256 the Hub reports). config.json is fetched with `hf_hub_download` (offline: from the local Hub cache).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources.card_template import card_defaults, make_card
from securitynet.catalog.sources.hub_files import HubFile, download_hub_file, hub_offline, snapshot_commit
from securitynet.catalog.sources.timm_hub import ARCH_PREFIX, DATASET_OF_LABEL_SET, SAFETENSORS, hub_url
from securitynet.errors import CardError, WeightsError

SOURCE = "hf-hub"
ID_PREFIX = f"{SOURCE}/"
CONFIG = "config.json"


def read_hub_config(repo_id: str, revision: str = "main") -> tuple[dict[str, Any], str]:
    """(config.json as a mapping, the commit it was read at), from the Hub or the local Hub cache."""

    try:
        path = download_hub_file(HubFile(repo_id, revision, CONFIG), offline=hub_offline())
    except FileNotFoundError as exc:
        raise CardError(f"Hub repo {repo_id}: {exc}; it needs a timm-style {CONFIG}") from None
    except WeightsError as exc:
        raise CardError(str(exc)) from None
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CardError(f"Hub repo {repo_id}: {CONFIG} is not readable JSON: {exc}") from None
    if not isinstance(config, dict):
        raise CardError(f"Hub repo {repo_id}: {CONFIG} is not a JSON object")
    return config, snapshot_commit(Path(path), CONFIG) or revision


def _pretrained_cfg(config: dict[str, Any], repo_id: str) -> Any:
    from timm.models import PretrainedCfg

    raw = dict(config.get("pretrained_cfg") or {})
    known = {f.name for f in dataclasses.fields(PretrainedCfg)}
    raw.setdefault("num_classes", config.get("num_classes"))
    try:
        return PretrainedCfg(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known})
    except TypeError as exc:
        raise CardError(f"Hub repo {repo_id}: {CONFIG} has an unusable pretrained_cfg: {exc}") from None


DEFAULTS = card_defaults(
    SOURCE, data_category="image", purpose="other", tags=[SOURCE],
    weights={"filename": SAFETENSORS, "format": "safetensors"},
    missing_reasons={"weights.sha256": "recorded from the Hub's LFS metadata on first fetch",
                     "train_size": f"{CONFIG} does not say which data the weights were trained on"},
)


def card_for_id(repo_id: str) -> ModelCard | None:
    """The card `hf-hub/<org>/<name>` from the repo's config.json; its errors say what is wrong with the repo."""
    return card_from_hub_repo(repo_id) if repo_id.count("/") == 1 else None


def card_from_hub_repo(repo_id: str, *, revision: str = "main", dataset: str | None = None) -> ModelCard:
    """The card of a Hub repo holding a timm model; `dataset` overrides the one its label set implies."""
    from securitynet.catalog.sources.timm_hub import input_spec, label_set

    config, commit = read_hub_config(repo_id, revision)
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or not architecture:
        raise CardError(f"Hub repo {repo_id}: {CONFIG} names no timm 'architecture'")
    cfg = _pretrained_cfg(config, repo_id)
    num_classes = config.get("num_classes") or cfg.num_classes
    if not isinstance(num_classes, int) or num_classes < 1:
        raise CardError(f"Hub repo {repo_id}: {CONFIG} gives no positive num_classes (got {num_classes!r}); "
                        "a feature extractor is not an image classifier")
    spec, missing = input_spec(cfg)
    labels = label_set(cfg)
    names = config.get("label_names")
    kept_cfg = {k: v for k, v in (config.get("pretrained_cfg") or {}).items() if k not in ("hf_hub_id", "url", "file")}
    return make_card(
        DEFAULTS,
        id=f"{ID_PREFIX}{repo_id}",
        name=repo_id,
        architecture=f"{ARCH_PREFIX}{architecture}",
        arch_kwargs={**dict(config.get("model_args") or {}), "pretrained_cfg": kept_cfg},
        model_type=architecture,
        dataset=dataset or DATASET_OF_LABEL_SET.get(labels or "", labels or "other"),
        num_classes=num_classes,
        input=spec,
        weights={"urls": [hub_url(repo_id, SAFETENSORS, commit)]},
        license=cfg.license,
        missing_reasons={**missing, **({"license": f"{CONFIG} names no license"} if cfg.license is None else {})},
        extra={"label_set": labels or "other", "hf_hub_id": repo_id, "config_revision": commit,
               **({"label_names": list(names)} if isinstance(names, list) else {})},
    )
