"""The adversarially trained models of "On the Loss Landscape of Adversarial Training" (Liu, Salzmann, Lin,
Tomioka, Suesstrunk; NeurIPS 2020, arXiv 2006.08403), released in github.com/IVRL/AdversaryLossLandscape.

One card per released checkpoint (``catalog/cards/adversary_loss_landscape_release.json`` lists them as the
repository tree does): 72 CIFAR-10 models (ResNet-18 and VGG-16 at width 8, PGD eps 8/255, six training
schedules, checkpoints at epochs 100/150/200 for the periodic schedules and 200 otherwise, three runs each)
and 9 MNIST LeNets. A checkpoint path ``models/<arch>_<dataset>/<schedule>/<run>/<arch>_<w>_<rest>.ckpt``
gives the card name ``<arch>_<schedule>_<rest>`` (the spelling of the published SecurityNet table, e.g.
``resnet_periodic_cosine_eps8_wd1e-3_max16_100``) and the id ``adversary_loss_landscape/<name>-run<run>``.

The published table lists each CIFAR-10 configuration three times without saying which run a row is; the
rows are taken to be runs 1, 2, 3 in table order (``match_published_row``). That is an assumption: the
table gives different numbers for the three rows, but nothing ties a row to a run folder.

Weights are plain state dicts stored with Git LFS. The LFS pointers (which carry the sha256) were not
available when these cards were written, so the cards carry no hash and a fetch reports them unverified;
a hash established later goes into the release file's ``sha256`` map (path -> sha256) and onto the card.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from securitynet.catalog.builtin import source_cards
from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo
from securitynet.catalog.sources.card_template import card_defaults, make_card, recorded_architecture, recorded_data
from securitynet.errors import CardError

SOURCE = "adversary_loss_landscape"
ID_PREFIX = f"{SOURCE}/"
RUNS: tuple[int, ...] = (1, 2, 3)

PAPER = PaperInfo(
    title="On the Loss Landscape of Adversarial Training: Identifying Challenges and How to Overcome Them",
    url="https://arxiv.org/abs/2006.08403",
    # As annotated in the SecurityNet table (the analysis groups by these).
    venue="NeurIPS",
    venue_type="ML",
    year=2020,
    country="Switzerland, UK",
    num_authors=5,
)

_PATH = re.compile(r"^models/(?P<folder>[a-z]+_[a-z0-9]+)/(?P<schedule>[a-z_]+)/(?P<run>\d+)/(?P<stem>[^/]+)\.ckpt$")
_STEM = re.compile(
    r"^(?P<arch>[a-z]+)_(?P<width>\d+)_eps(?P<eps>[\d.]+)(?:_wd(?P<wd>[0-9.e\-]+))?(?:_max(?P<max>[\d.]+))?"
    r"_(?P<epoch>\d+)$"
)


@dataclass(frozen=True)
class Checkpoint:
    """One released file, parsed from its path."""

    path: str
    folder: str  # resnet_cifar10, vgg_cifar10, lenet_mnist
    schedule: str  # periodic_cosine, plain_const, ...
    run: int
    stem: str
    arch: str
    width: int
    eps: str
    weight_decay: str | None
    eps_max: str | None
    epoch: int

    @property
    def name(self) -> str:
        """The published spelling: architecture, schedule, then the file stem after `<arch>_<width>_`."""
        return f"{self.arch}_{self.schedule}_{self.stem[len(f'{self.arch}_{self.width}_'):]}"

    @property
    def card_id(self) -> str:
        return f"{ID_PREFIX}{self.name}-run{self.run}"

    @property
    def filename(self) -> str:
        # Unique across runs (every run folder holds the same file names), so a flat mirror cannot mix runs up.
        return f"{self.folder}-{self.schedule}-{self.run}-{self.stem}.ckpt"


def release() -> dict[str, Any]:
    """The recorded facts about the release (adversary_loss_landscape_release.json)."""
    return recorded_data("adversary_loss_landscape_release.json")


def layout() -> dict[str, Any]:
    """The recorded state-dict layouts per model folder (adversary_loss_landscape_layout.json)."""
    return recorded_data("adversary_loss_landscape_layout.json")


def parse_path(path: str) -> Checkpoint:
    where = _PATH.match(path)
    what = _STEM.match(where["stem"]) if where else None
    if where is None or what is None:
        raise CardError(f"AdversaryLossLandscape checkpoint path {path!r} does not follow "
                        "models/<arch>_<dataset>/<schedule>/<run>/<arch>_<width>_eps<eps>[_wd<wd>][_max<max>]_<epoch>.ckpt")
    if not where["folder"].startswith(f"{what['arch']}_"):
        raise CardError(f"AdversaryLossLandscape checkpoint {path!r}: file {what['arch']} in folder {where['folder']}")
    return Checkpoint(
        path=path,
        folder=where["folder"],
        schedule=where["schedule"],
        run=int(where["run"]),
        stem=where["stem"],
        arch=what["arch"],
        width=int(what["width"]),
        eps=what["eps"],
        weight_decay=what["wd"],
        eps_max=what["max"],
        epoch=int(what["epoch"]),
    )


@lru_cache(maxsize=1)
def checkpoints() -> tuple[Checkpoint, ...]:
    return tuple(parse_path(path) for path in release()["checkpoints"])


def iter_cards() -> Iterator[ModelCard]:
    cards = tuple(_card(checkpoint) for checkpoint in checkpoints())
    ids = [card.id for card in cards]
    if len(set(ids)) != len(ids):
        raise CardError("AdversaryLossLandscape release lists two checkpoints with the same card id")
    return iter(cards)


def cards_by_id() -> dict[str, ModelCard]:
    return {card.id: card for card in source_cards(__name__)}


_NO_ACCURACY = "the release publishes no per-checkpoint accuracy"
DEFAULTS = card_defaults(
    SOURCE, paper=PAPER, purpose="security", weights={"format": "state_dict"}, tags=[SOURCE, "adversarial-training"],
    missing_reasons={"published.test_accuracy": _NO_ACCURACY, "published.train_accuracy": _NO_ACCURACY,
                     "published.overfit_gap": _NO_ACCURACY, "weights.size_bytes": "not recorded"},
)


def _card(checkpoint: Checkpoint) -> ModelCard:
    facts = release()
    model = facts["models"].get(checkpoint.folder)
    recorded = layout()["layouts"].get(checkpoint.folder)
    if model is None or recorded is None:
        raise CardError(f"AdversaryLossLandscape folder {checkpoint.folder!r} has no recorded architecture or layout")
    arch_kwargs = dict(recorded["arch_kwargs"])
    if arch_kwargs.get("width") != checkpoint.width:
        raise CardError(f"{checkpoint.path}: width {checkpoint.width} differs from the recorded layout's "
                        f"{arch_kwargs.get('width')}")
    sha256 = facts.get("sha256", {}).get(checkpoint.path)
    is_cifar = model["dataset"] == "cifar10"
    return make_card(
        DEFAULTS,
        id=checkpoint.card_id,
        name=checkpoint.name,
        **recorded_architecture(model, arch_kwargs=arch_kwargs),
        dataset=model["dataset"],
        data_category="natural" if is_cifar else "digit",
        num_classes=model["num_classes"],
        train_size=model["train_size"],
        input=InputSpec(channels=model["input"]["channels"], size=tuple(model["input"]["size"]), scale=1 / 255),
        weights={"urls": [t.format(commit=facts["commit"], path=checkpoint.path) for t in facts["url_templates"]],
                 "filename": checkpoint.filename, "sha256": sha256},
        license=facts["license"],
        missing_reasons={} if sha256 is not None else {
            "weights.sha256": "the release stores checkpoints with Git LFS and its LFS pointers (which hold the "
                              "sha256) were not available when this card was written; fetched weights are unverified"},
        tags=[model["dataset"], checkpoint.schedule, f"run{checkpoint.run}"],
        notes=_notes(checkpoint, facts["commit"], is_cifar, "bias" in arch_kwargs),
        extra={SOURCE: {
            "repository": facts["repository"], "commit": facts["commit"], "path": checkpoint.path,
            "schedule": checkpoint.schedule, "run": checkpoint.run, "epoch": checkpoint.epoch,
            "width": checkpoint.width, "eps": checkpoint.eps,
            "eps_units": "1/255" if is_cifar else "[0, 1] pixel scale", "eps_max": checkpoint.eps_max,
            "weight_decay": checkpoint.weight_decay, "architecture_code": model["code"],
        }},
    )


def _notes(checkpoint: Checkpoint, commit: str, is_cifar: bool, with_bias: bool) -> list[str]:
    eps_text = f"{checkpoint.eps}/255" if is_cifar else checkpoint.eps
    notes = [
        f"Run {checkpoint.run} of three trainings; checkpoint after epoch {checkpoint.epoch} of schedule "
        f"'{checkpoint.schedule}' (PGD adversarial training, L-infinity eps {eps_text}"
        + (f", peak eps {checkpoint.eps_max}{'/255' if is_cifar else ''}" if checkpoint.eps_max else "")
        + (f", weight decay {checkpoint.weight_decay}" if checkpoint.weight_decay else "")
        + ").",
        f"Plain state dict {checkpoint.path} at commit {commit[:12]} (Git LFS).",
        "Inputs in [0, 1] without normalisation, as the release trains and evaluates.",
    ]
    if with_bias:
        notes.append("Built with bias terms, the training script's default (the commands of the paper's Table 1 "
                     "are not published).")
    return notes


# --- matching rows of the published SecurityNet table ---------------------------------------------------


def match_published_row(name: str, dataset: str, occurrence: int) -> str | None:
    """The card id of a published row: its name, and its occurrence (1, 2, 3 in table order) as the run."""
    if occurrence not in RUNS:
        return None
    card_id = f"{ID_PREFIX}{name.strip()}-run{occurrence}"
    card = cards_by_id().get(card_id)
    return card_id if card is not None and card.dataset == dataset else None
