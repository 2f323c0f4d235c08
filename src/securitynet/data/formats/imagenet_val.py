"""ImageNet-1k (ILSVRC2012) validation images, 50,000, labelled in the standard 1000-class order.

Class index = position of the WordNet id in sorted order (what torchvision, timm and pytorchcv models
output); `imagenet_classes.json` lists the 1000 (wnid, name) pairs in that order (Keras'
imagenet_class_index.json). The validation folder is read in either layout:

- ImageFolder style: `val/<wnid>/*.JPEG` (what torchvision's ImageNet class prepares);
- the official flat folder `val/` or `ILSVRC2012_img_val/` of `ILSVRC2012_val_XXXXXXXX.JPEG` files, with labels
  from the first of: torchvision's `meta.bin`, Kaggle's `LOC_val_solution.csv`, the devkit's
  `ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt` + `meta.mat`, or Caffe's `val.txt`
  ("<file> <class index>"), found next to the folder or above it.

Images are resized (shorter side 256) and centre-cropped to 224 as the models are evaluated, decoded once
into the cache. ImageNet cannot be downloaded automatically (registration at image-net.org).
"""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.formats.image_files import decoded_images, list_images
from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

RESIZE, CROP = 256, 224
_WNID = re.compile(r"^n\d{8}$")


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """The 1000 (wnid, name) pairs in class-index order."""
    pairs = json.loads((Path(__file__).parent / "imagenet_classes.json").read_text())
    return tuple((wnid, name) for wnid, name in pairs)


@lru_cache(maxsize=1)
def wnid_to_index() -> dict[str, int]:
    return {wnid: i for i, (wnid, _name) in enumerate(imagenet_classes())}


def _index_of(wnid: str, where: Path) -> int:
    try:
        return wnid_to_index()[wnid]
    except KeyError:
        raise DatasetError(f"{where}: {wnid!r} is not one of the 1000 ImageNet-1k classes") from None


def _ancestors(folder: Path, root: Path) -> list[Path]:
    out = [folder]
    for parent in folder.parents:
        out.append(parent)
        if parent == root or len(out) > 6:
            break
    return out


def _labels_torchvision_meta(folder: Path, images: list[Path]) -> list[str] | None:
    meta = folder / "meta.bin"
    if not meta.is_file():
        return None
    from torchvision.datasets.imagenet import load_meta_file  # torch.load(..., weights_only=True)

    _wnid_to_classes, val_wnids = load_meta_file(str(folder))
    if len(val_wnids) != len(images):
        raise DatasetError(f"{meta}: lists {len(val_wnids)} validation labels for {len(images)} images")
    return list(val_wnids)  # aligned with the sorted file names, as torchvision's parse_val_archive uses them


def _labels_kaggle(folder: Path, images: list[Path]) -> list[str] | None:
    table = folder / "LOC_val_solution.csv"
    if not table.is_file():
        return None
    by_id = {}
    with open(table, newline="") as fh:
        for row in csv.DictReader(fh):
            by_id[row["ImageId"]] = row["PredictionString"].split()[0]
    return [by_id.get(p.stem, "") for p in images]


def _labels_devkit(folder: Path, images: list[Path]) -> list[str] | None:
    data = folder / "ILSVRC2012_devkit_t12" / "data"
    truth, meta = data / "ILSVRC2012_validation_ground_truth.txt", data / "meta.mat"
    if not (truth.is_file() and meta.is_file()):
        return None
    import scipy.io

    synsets = scipy.io.loadmat(meta, squeeze_me=True)["synsets"]
    # Leaves of the synset tree (no children) are the 1000 classes; ILSVRC2012_ID numbers them 1..1000.
    id_to_wnid = {int(s[0]): str(s[1]) for s in synsets if int(s[4]) == 0}
    ids = [int(v) for v in truth.read_text().split()]
    numbers = [_trailing_number(p.stem) for p in images]  # ILSVRC2012_val_00000001 -> 1
    return [id_to_wnid.get(ids[n - 1], "") if 0 < n <= len(ids) else "" for n in numbers]


def _trailing_number(stem: str) -> int:
    match = re.search(r"(\d+)$", stem)
    return int(match.group(1)) if match else -1


def _labels_caffe(folder: Path, images: list[Path]) -> list[int] | None:
    table = folder / "val.txt"
    if not table.is_file():
        return None
    by_name = {}
    for line in table.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            by_name[Path(parts[0]).name] = int(parts[1])
    return [by_name.get(p.name, -1) for p in images]


def _flat_labels(val_dir: Path, root: Path, images: list[Path]) -> tuple[np.ndarray, str]:
    for folder in _ancestors(val_dir, root):
        for reader in (_labels_torchvision_meta, _labels_kaggle, _labels_devkit, _labels_caffe):
            found = reader(folder, images)
            if found is None:
                continue
            if reader is _labels_caffe:
                labels = np.asarray(found, dtype=np.int64)
                unlabelled = [images[i].name for i in np.flatnonzero((labels < 0) | (labels >= 1000))]
            else:
                unlabelled = [images[i].name for i, w in enumerate(found) if not w]
                labels = np.asarray([_index_of(w, folder) if w else -1 for w in found], dtype=np.int64)
            if unlabelled:
                raise DatasetError(f"{folder}: no label for {len(unlabelled)} images, e.g. {unlabelled[:3]}")
            return labels, f"labels from {reader.__name__.removeprefix('_labels_')} in {folder}"
    raise DatasetError(
        f"{val_dir}: flat validation images but no labels; put meta.bin (torchvision), LOC_val_solution.csv "
        "(Kaggle), ILSVRC2012_devkit_t12/ (official devkit) or val.txt (Caffe) next to it, or sort the images "
        "into <wnid>/ folders"
    )


def read_imagenet_val(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    (val_dir,) = located.files
    class_dirs = sorted(p for p in val_dir.iterdir() if p.is_dir() and _WNID.match(p.name))
    if class_dirs:
        files, labels = [], []
        for class_dir in class_dirs:
            index = _index_of(class_dir.name, class_dir)
            members = list_images(class_dir)
            files.extend(members)
            labels.extend([index] * len(members))
        y, how = np.asarray(labels, dtype=np.int64), f"labels from {len(class_dirs)} <wnid>/ folders"
    else:
        files = list_images(val_dir)
        if not files:
            raise DatasetError(f"{val_dir}: holds neither <wnid>/ folders nor images")
        y, how = _flat_labels(val_dir, located.root, files)
    images = decoded_images(f"imagenet-{split}", files, resize=RESIZE, crop=CROP)
    source = f"{len(files)} images in {located.describe()}, {how} (resize {RESIZE}, centre crop {CROP})"
    return whole_split(images, y, info.name, split, source)
