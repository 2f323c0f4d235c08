"""The MedMNIST v2 benchmark classifiers: ResNet-18/50 at 28 px on the 2D datasets and their ACS, 2.5D
and 3D versions on the 3D datasets (Yang et al., "MedMNIST v2", Scientific Data 2023, arXiv 2110.14795).

Cards are generated, not typed: for each dataset with a weight archive (``medmnist_release.json``) the
medmnist package's ``INFO`` says its classes, channels, task and whether it is 3D, and the benchmark's
naming scheme gives the models: ``resnet{18,50}_28_{1,2,3}`` (2D) and
``resnet{18,50}_{acs,2.5D,3D}_{1,2,3}`` (3D). The run index 1..3 numbers three trainings of the same
configuration (the official script sets no seed). Multi-label ChestMNIST is left out, as in the
published SecurityNet table: the attacks here need one label per image.

Facts that are not in the package are recorded as data in ``catalog/cards/medmnist_release.json``:
- the weights are the zip-root members ``<name>.pth`` of ``weights_<flag>.zip`` in Zenodo record
  7782114; each holds ``{"net": state_dict}``. The SecurityNet table links record 10519652, the
  MedMNIST+ data record, where no weight archive is known;
- the models were trained on MedMNIST v2 (medmnist<3). MedMNIST v3 changed the training splits of
  OrganAMNIST, OrganCMNIST, OrganSMNIST and OrganMNIST3D, so ``train_size`` comes from the v2 sizes
  (which are also the published ones), never from the installed package when they differ.

Preprocessing follows the official scripts: 2D images are converted to RGB (``--as_rgb``), scaled to
[0, 1] and normalised with mean 0.5, std 0.5; 3D volumes are scaled to [0, 1], copied to three channels
and not normalised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from securitynet.catalog.card import InputSpec, ModelCard, PaperInfo
from securitynet.catalog.sources.card_template import card_defaults, make_card, recorded_data

SOURCE = "medmnist"
ID_PREFIX = f"{SOURCE}/"
DEPTHS: tuple[int, ...] = (18, 50)
RUNS: tuple[int, ...] = (1, 2, 3)
IMAGE_SIZE = 28
IN_CHANNELS = 3  # every released 28 px model was trained with --as_rgb
# Conversion as spelled in the file names -> the architecture's `conversion` argument.
CONVERSIONS_3D: dict[str, str] = {"acs": "acs", "2.5D": "2.5d", "3D": "3d"}
SKIPPED_TASKS: dict[str, str] = {
    "multi-label, binary-class": "multi-label: not in the SecurityNet table; the attacks need one label per image",
}
# The 3D sets built from segmentation masks; the official script has --shape_transform for them.
SHAPE_DATASETS: frozenset[str] = frozenset({"adrenalmnist3d", "vesselmnist3d"})

PAPER = PaperInfo(
    title="MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image classification",
    url="https://arxiv.org/abs/2110.14795",
    # As annotated in the SecurityNet table (the analysis groups by these); the journal version is in `extra`.
    venue="arXiv",
    venue_type="arXiv",
    year=2021,
    country="China, USA",
    num_authors=8,
)
JOURNAL = {"venue": "Scientific Data", "year": 2023, "doi": "10.1038/s41597-022-01721-8"}

INPUT_2D = InputSpec(channels=IN_CHANNELS, size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 255,
                     mean=(0.5,) * IN_CHANNELS, std=(0.5,) * IN_CHANNELS)
INPUT_3D = InputSpec(channels=IN_CHANNELS, size=(IMAGE_SIZE,) * 3, scale=1 / 255)


def release() -> dict[str, Any]:
    """The recorded facts about the weight release and the training data (medmnist_release.json)."""
    return recorded_data("medmnist_release.json")


def model_names(is_3d: bool) -> Iterator[tuple[str, int, str]]:
    """(checkpoint stem, depth, conversion) of every released 28 px model of one dataset."""
    for depth in DEPTHS:
        if is_3d:
            for spelled, conversion in CONVERSIONS_3D.items():
                for run in RUNS:
                    yield f"resnet{depth}_{spelled}_{run}", depth, conversion
        else:
            for run in RUNS:
                yield f"resnet{depth}_{IMAGE_SIZE}_{run}", depth, "2d"


def _dataset_facts() -> Iterator[tuple[str, dict[str, Any], bool]]:
    import medmnist.dataset
    from medmnist.info import INFO

    for flag in release()["archives"]:
        info = INFO[flag]
        if info["task"] in SKIPPED_TASKS:
            continue
        data_class = getattr(medmnist.dataset, info["python_class"])
        yield flag, info, issubclass(data_class, medmnist.dataset.MedMNIST3D)


def iter_cards() -> Iterator[ModelCard]:
    return (
        _card(flag, info, is_3d, stem, depth, conversion)
        for flag, info, is_3d in _dataset_facts()
        for stem, depth, conversion in model_names(is_3d)
    )


def skipped_datasets() -> dict[str, str]:
    """Datasets with released weights that get no cards here, with the reason (for coverage reports)."""
    from medmnist.info import INFO

    tasks = {flag: INFO[flag]["task"] for flag in release()["archives"]}
    return {flag: SKIPPED_TASKS[task] for flag, task in tasks.items() if task in SKIPPED_TASKS}


DEFAULTS = card_defaults(
    SOURCE, model_type="resnet", family="resnet", data_category="medical", paper=PAPER, purpose="other",
    weights={"source_hash_scope": "archive", "format": "zip"}, tags=["medmnist", "medmnist-v2"],
    extra={"image_size": IMAGE_SIZE, "journal": JOURNAL},
)


def _card(flag: str, info: dict[str, Any], is_3d: bool, stem: str, depth: int, conversion: str) -> ModelCard:
    facts = release()
    weights = facts["weights_record"]
    archive = weights["archive"].format(flag=flag)
    archive_facts = facts["archives"].get(flag, {})
    member_facts = facts["members"].get(f"{flag}/{stem}")
    trained_on = facts["training_data"]["datasets"][flag]
    member_sha256 = member_facts["sha256"] if member_facts else None
    missing = {} if member_sha256 else {
        "weights.sha256": f"sha256 of {stem}.pth not recorded yet (Zenodo gives an md5 of the whole archive only)"
    }
    if not archive_facts.get("md5"):
        missing["weights.source_hash"] = f"md5 of {archive} (published by Zenodo) not recorded yet"
    return make_card(
        DEFAULTS,
        id=f"{ID_PREFIX}{flag}/{stem}",
        name=f"{stem}.pth" if is_3d else stem,  # spelled as in the SecurityNet table
        architecture=f"medmnist_resnet{depth}_{'3d' if is_3d else '2d'}",
        arch_kwargs={"in_channels": IN_CHANNELS, **({"conversion": conversion} if is_3d else {})},
        dataset=flag,
        num_classes=len(info["label"]),
        train_size=trained_on["train"],
        input=INPUT_3D if is_3d else INPUT_2D,
        weights={
            "urls": [weights["file_url"].format(file=archive)], "filename": archive, "sha256": member_sha256,
            "source_hash": archive_facts.get("md5"), "source_hash_algo": "md5" if archive_facts.get("md5") else None,
            "size_bytes": archive_facts.get("size_bytes"), "archive_member": weights["member"].format(model=stem),
            "inner_key": weights["checkpoint_key"],
        },
        license=weights["license"],
        missing_reasons=missing,
        tags=["3d" if is_3d else "2d", f"resnet{depth}"] + ([conversion] if is_3d else []),
        notes=_notes(flag, is_3d, stem, archive),
        extra={
            "run": int(stem.rsplit("_", 1)[1]), "conversion": conversion, "task": info["task"],
            "weights_record": weights["doi"], "securitynet_weights_link": facts["securitynet_weights_link"],
            "training_data": {"version": "MedMNIST v2", "url": trained_on["url"], "md5": trained_on["md5"]},
            "dataset_license": info["license"],
            **({"train_size_installed_medmnist": info["n_samples"]["train"]}
               if info["n_samples"]["train"] != trained_on["train"] else {}),
            **({"member": {k: v for k, v in member_facts.items() if k in ("size_bytes", "crc32")}}
               if member_facts else {}),
        },
    )


def _notes(flag: str, is_3d: bool, stem: str, archive: str) -> list[str]:
    run = int(stem.rsplit("_", 1)[1])
    notes = [
        f"Run {run} of three trainings of the same configuration by MedMNIST/experiments' train_and_eval_pytorch.py "
        "(no seed is set, so runs differ by initialisation and data order).",
        f"Checkpoint {stem}.pth inside {archive}; state dict under 'net'.",
    ]
    if is_3d:
        notes.append(
            "The official 3D script saves the last epoch's weights while it reports the best-validation epoch's "
            "metrics, so published numbers may not be reproducible from this file."
        )
    if flag in SHAPE_DATASETS:
        notes.append(
            "The official 3D script can scale shape-dataset inputs by 0.5 at evaluation (--shape_transform); "
            "whether the released runs used it is undocumented, so this card applies no extra scaling."
        )
    return notes
