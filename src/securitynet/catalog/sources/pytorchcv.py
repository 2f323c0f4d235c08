"""The pytorchcv (osmr/imgclsmob) source: a card for every released CIFAR-10/100, SVHN, CUB-200-2011
and ImageNet-1k classifier, generated from the metadata the installed pytorchcv package ships.

Which models exist, their weight files, sha1 hashes, release tags, errors, papers and families all come
from the package (see ``pytorchcv_metadata``); what this module adds is what the package does not
record as data, each taken from imgclsmob's own training and evaluation code:

- dataset from the name suffix (``_cifar10``, ``_cifar100``, ``_svhn``, ``_cub``; none = ImageNet-1k),
  cross-checked against the CSV's test_dataset column (``cf``, ``cub``, ``in1k``);
- training-set sizes: CIFAR 50,000; SVHN 73,257 (imgclsmob trains on ``train_32x32.mat`` only, not
  ``extra``, see ``pytorch/datasets/svhn_cls_dataset.py``); CUB 5,994 (the official train split of
  ``train_test_split.txt``); ImageNet-1k 1,281,167;
- inputs: CIFAR/SVHN 32x32 normalised with imgclsmob's CIFAR mean/std (``cifar10_val_transform``);
  ImageNet and CUB with the ImageNet mean/std at the evaluation size of the CSV (CUB inherits the
  ImageNet 224 px pipeline in imgclsmob; NTS-Net is built for 448 px).

The error code in the CSV is what imgclsmob's saver checkpoints on: the top-1 error for CIFAR, SVHN and
CUB, but the *top-5* error for ImageNet-1k (``saver_acc_ind = 1``). The ImageNet top-1 error comes from
the package README's result table instead, matched by weight file; where the README has no row the
published test accuracy stays missing, with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo, PublishedAnnotation
from securitynet.catalog.sources import pytorchcv_metadata as meta
from securitynet.catalog.sources.card_template import card_defaults, make_card
from securitynet.errors import UnknownModelError

SOURCE = "pytorchcv"
ID_PREFIX = "pytorchcv/"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# imgclsmob pytorch/datasets/cifar10_cls_dataset.py (cifar10_val_transform), shared by CIFAR-100 and SVHN.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
# Models whose CSV remark ends in "*" use "non-standard preprocessing" (README), and imgclsmob's eval
# script skips them. They are TF ports (EfficientNet AdvProp, per their docstrings, and EdgeTPU) whose
# releases feed inputs scaled to [-1, 1]; this is not recorded in pytorchcv and is marked on the card.
TF_PORT_MEAN = (0.5, 0.5, 0.5)
TF_PORT_STD = (0.5, 0.5, 0.5)
IMAGENET_CROP_RATIO = 0.875  # imgclsmob ImageNet1KMetaInfo.resize_inv_factor, inherited by CUB


@dataclass(frozen=True)
class DatasetFacts:
    name: str
    suffix: str
    csv_test_dataset: str
    num_classes: int
    train_size: int
    data_category: str
    title: str


DATASETS: dict[str, DatasetFacts] = {
    facts.name: facts
    for facts in (
        DatasetFacts("cifar10", "_cifar10", "cf", 10, 50_000, "natural", "CIFAR-10"),
        DatasetFacts("cifar100", "_cifar100", "cf", 100, 50_000, "natural", "CIFAR-100"),
        DatasetFacts("svhn", "_svhn", "cf", 10, 73_257, "digit", "SVHN"),
        DatasetFacts("cub200", "_cub", "cub", 200, 5_994, "natural", "CUB-200-2011"),
        DatasetFacts("imagenet", "", "in1k", 1000, 1_281_167, "natural", "ImageNet-1k"),
    )
}
# Size for models the CSV gives no evaluation size and whose constructor default is not 224 px.
_INPUT_SIZE_OVERRIDES = {"ntsnet_cub": 448}  # NTSNet(in_size=(448, 448)) in pytorchcv/models/ntsnet_cub.py
# NTS-Net returns (logits, aux...) unless built with aux=False, which imgclsmob does for CUB evaluation
# (CUB200MetaInfo.net_extra_kwargs) while dropping the checkpoint's extra aux weights (load_ignore_extra).
_ARCH_KWARGS = {"ntsnet_cub": {"aux": False}}
# Families named after the module that defines the constructor; these modules hold variants of a family.
_FAMILY_ALIASES = {"wrn1bit": "wrn", "darknet53": "darknet"}


def dataset_of(name: str) -> str:
    """The dataset a pytorchcv classifier name implies: its suffix, or ImageNet-1k without one.

    Names of other tasks (``pspnet_resnetd50b_voc``, ...) also read as ImageNet here; the CSV's
    test_dataset column tells them apart (see ``_classifiers``).
    """
    for facts in DATASETS.values():
        if facts.suffix and name.endswith(facts.suffix):
            return facts.name
    return "imagenet"


@lru_cache(maxsize=1)
def _classifiers() -> dict[str, tuple[meta.MetaInfo, DatasetFacts]]:
    """Released classifiers of the five datasets whose name suffix and CSV test_dataset agree."""
    known = meta.model_modules()
    found: dict[str, tuple[meta.MetaInfo, DatasetFacts]] = {}
    for name, info in meta.load_metainfos().items():
        facts = DATASETS[dataset_of(name)]
        if info.test_dataset != facts.csv_test_dataset or name not in known:
            continue  # segmentation, detection, pose, speech, ... or a name pytorchcv cannot build
        found[name] = (info, facts)
    return found


def list_names(dataset: str | None = None) -> list[str]:
    """pytorchcv names of the released classifiers, optionally of one dataset (cifar10, ..., imagenet)."""
    if dataset is not None and dataset not in DATASETS:
        raise UnknownModelError(f"pytorchcv has no classifiers for dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return [name for name, (_, facts) in _classifiers().items() if dataset is None or facts.name == dataset]


def family_of(name: str) -> str | None:
    """The architecture family: the pytorchcv.models module defining the model, less its dataset suffix."""
    module = meta.model_modules().get(name)
    if module is None:
        return None
    family = re.sub(r"_(cifar|cub|svhn)$", "", module)
    return _FAMILY_ALIASES.get(family, family)


def weight_urls(info: meta.MetaInfo) -> tuple[str, str, str]:
    """(url, zip file name, .pth member) exactly as pytorchcv's ``get_model_file`` builds them."""
    member = f"{info.file_stem}.pth"
    archive = f"{member}.zip"
    return f"{meta.repo_url()}/releases/download/{info.release_tag}/{archive}", archive, member


def pytorchcv_card(name: str) -> ModelCard:
    """The card of one released pytorchcv classifier, e.g. ``resnet20_cifar10``."""
    entry = _classifiers().get(name)
    if entry is None:
        raise UnknownModelError(
            f"pytorchcv {meta.package_version()} has no released CIFAR-10/100, SVHN, CUB-200-2011 or "
            f"ImageNet-1k classifier named {name!r}"
        )
    return _build_card(*entry)


def iter_cards() -> Iterator[ModelCard]:
    for info, facts in _classifiers().values():
        yield _build_card(info, facts)


DEFAULTS = card_defaults(
    SOURCE, purpose="benchmark", tags=["pytorchcv", "imgclsmob"],
    # pytorchcv checks the sha1 of the extracted .pth, not of the zip
    weights={"sha256": None, "source_hash_algo": "sha1", "source_hash_scope": "file", "format": "zip"},
    missing_reasons={
        "published.train_accuracy": "pytorchcv/imgclsmob publish no training accuracy",
        "published.overfit_gap": "needs the training accuracy, which pytorchcv/imgclsmob do not publish",
        "weights.sha256": "unknown until downloaded: pytorchcv records only the sha1 of the .pth inside the zip",
        "weights.size_bytes": "pytorchcv does not record the size of the released zip",
    },
)


def _build_card(info: meta.MetaInfo, facts: DatasetFacts) -> ModelCard:
    url, archive, member = weight_urls(info)
    version = meta.package_version()
    tf_port = bool(info.remark and info.remark.endswith("*"))
    input_spec, eval_transform = _input_spec(info, facts, tf_port)
    published, accuracy_missing, accuracy_extra = _published(info, facts, version)
    title, paper_url = meta.paper_of(info.name)
    return make_card(
        DEFAULTS,
        id=f"{ID_PREFIX}{info.name}",
        name=info.name,
        architecture=f"pytorchcv:{info.name}",
        arch_kwargs=dict(_ARCH_KWARGS.get(info.name, {})),
        family=family_of(info.name),
        dataset=facts.name,
        data_category=facts.data_category,
        num_classes=facts.num_classes,
        train_size=facts.train_size,
        input=input_spec,
        # The checkpoint holds aux-head weights the aux=False model lacks (pytorchcv loads ignoring extras).
        weights={"urls": [url], "filename": archive, "source_hash": info.sha1, "archive_member": member,
                 "strict": info.name not in _ARCH_KWARGS},
        license=meta.package_license(),
        paper=PaperInfo(title=title, url=paper_url),
        published=published,
        missing_reasons={**accuracy_missing,
                         **({"paper": "the pytorchcv constructor docstring cites no paper"} if title is None else {})},
        tags=[facts.name] + ["preprocessing-unverified"] * tf_port,
        notes=_notes(info, member, version, tf_port),
        extra={"pytorchcv": {
            "version": version, "error_code": info.error_code,
            "error_metric": "top5" if facts.name == "imagenet" else "top1", "release_tag": info.release_tag,
            "trainable_parameters": info.net_weights, "caption": info.caption, "remark": info.remark,
            "eval_transform": eval_transform, **accuracy_extra,
        }},
    )


def _notes(info: meta.MetaInfo, member: str, version: str, tf_port: bool) -> list[str]:
    notes = [
        f"imgclsmob weights {member} (release {info.release_tag}), listed by pytorchcv {version}.",
        "The sha1 is pytorchcv's hash of the .pth inside the zip, not of the zip.",
    ]
    if info.name in _ARCH_KWARGS:
        notes.append("Built with aux=False as imgclsmob evaluates it; the checkpoint's aux-head weights are unused.")
    if tf_port:
        notes.append(
            "pytorchcv marks this model as using non-standard preprocessing; mean/std 0.5 follow the TF "
            "release it was converted from and are not recorded by pytorchcv."
        )
    return notes


def _input_spec(info: meta.MetaInfo, facts: DatasetFacts, tf_port: bool) -> tuple[InputSpec, dict | None]:
    if facts.name in ("cifar10", "cifar100", "svhn"):
        return InputSpec(channels=3, size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD), None
    size = info.img_size or _INPUT_SIZE_OVERRIDES.get(info.name, 224)
    ratio = info.img_scale or IMAGENET_CROP_RATIO
    mean, std = (TF_PORT_MEAN, TF_PORT_STD) if tf_port else (IMAGENET_MEAN, IMAGENET_STD)
    # imgclsmob evaluates by resizing the short side to ceil(size / ratio) and centre-cropping `size`.
    transform = {"resize_short_side": int(math.ceil(size / ratio)), "center_crop": size, "interpolation": "bilinear"}
    spec = InputSpec(channels=3, size=(size, size), mean=mean, std=std,
                     resize_shorter=transform["resize_short_side"], center_crop=True)
    return spec, transform


def _published(
    info: meta.MetaInfo, facts: DatasetFacts, version: str
) -> tuple[PublishedAnnotation, dict[str, str], dict[str, float | None]]:
    error = int(info.error_code) / 100.0  # percent: "0597" = 5.97 %
    if facts.name != "imagenet":
        source = (
            f"pytorchcv {version} model_metainfos.csv: top-1 error {error:.2f}% on the {facts.title} test set "
            f"(imgclsmob, weights {info.file_stem})"
        )
        return PublishedAnnotation(test_accuracy=round(1 - error / 100, 6), source=source), {}, {}
    extra: dict[str, float | None] = {"top5_accuracy": round(1 - error / 100, 6)}
    row = meta.readme_row(info)
    if row is None or row.top1_error is None:
        reason = (
            f"pytorchcv {version} records only the top-5 error ({error:.2f}%) of these ImageNet weights and its "
            "README has no top-1 row for them"
        )
        return PublishedAnnotation(source=None), {"published.test_accuracy": reason}, extra
    extra["top1_accuracy"] = round(1 - row.top1_error / 100, 6)
    source = (
        f"pytorchcv {version} README (PyPI METADATA, {row.section} table): top-1 error {row.top1_error:.2f}%, "
        f"top-5 error {error:.2f}%, 1-crop on the ImageNet-1k validation set (imgclsmob, weights {info.file_stem})"
    )
    return PublishedAnnotation(test_accuracy=extra["top1_accuracy"], source=source), {}, extra


# --- matching rows of the published SecurityNet table ---------------------------------------------------


def normalise_dataset(dataset: str) -> str | None:
    """Our dataset name for a dataset label as tables write it ("CIFAR-10", "ImageNet1k", "cub200", ...)."""
    key = re.sub(r"[^a-z0-9]", "", dataset.lower())
    aliases = {
        "cifar10": "cifar10",
        "cifar100": "cifar100",
        "svhn": "svhn",
        "cub": "cub200",
        "cub200": "cub200",
        "cub2002011": "cub200",
        "imagenet": "imagenet",
        "imagenet1k": "imagenet",
        "in1k": "imagenet",
        "ilsvrc2012": "imagenet",
    }
    return aliases.get(key)


def match_published_name(model_name: str, dataset: str) -> str | None:
    """The pytorchcv name of a published table row (model name + dataset label), or None.

    Tried in order: the name itself; the SecurityNet spelling ``vgg11_bn`` for pytorchcv's ``bn_vgg11``
    (and ``vgg11b_bn`` for ``bn_vgg11b``); the name plus the dataset suffix when a row drops it. A
    candidate counts only if it is a released classifier of the row's dataset.
    """
    ours = normalise_dataset(dataset)
    if ours is None:
        return None
    name = model_name.strip().lower()
    candidates = [name]
    if name.endswith("_bn"):
        candidates.append(f"bn_{name[: -len('_bn')]}")
    suffix = DATASETS[ours].suffix
    if suffix and not name.endswith(suffix):
        candidates += [f"{candidate}{suffix}" for candidate in list(candidates)]
    classifiers = _classifiers()
    for candidate in candidates:
        entry = classifiers.get(candidate)
        if entry is not None and entry[1].name == ours:
            return candidate
    return None
