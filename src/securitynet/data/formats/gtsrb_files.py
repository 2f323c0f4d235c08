"""GTSRB's files in either layout: the 32x32 npz pair of ../shared/data, or the PPM folders torchvision unpacks.

- `gtsrb_train_32x32.npz` (`x`, `y`, `track`) and `gtsrb_test_32x32.npz` (`x`, `y`, `filenames`): official PPMs
  resized to 32x32;
- `GTSRB/Training/<class>/TTTTT_FFFFF.ppm` and `GTSRB/Final_Test/Images/*.ppm` + `GT-final_test.csv`, decoded once
  to 32x32 (bilinear, whole image) into the cache.

Training images come in tracks: ~30 frames of one physical sign. Frames of a track are near-duplicates, so
`groups` = label * 1000 + track identifies a sign and every split made here keeps a group on one side.
The official test set is a different set of signs, without track ids.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.formats.image_files import decoded_images, list_images
from securitynet.data.formats.npz import read_npz_array
from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, class_numbers, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

_TRACKS_PER_LABEL = 1000
SIZE = 32


def sign_groups(labels: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """One id per (label, track) pair: track numbers restart in every class."""
    tracks = np.asarray(tracks, dtype=np.int64)
    if len(tracks) and (tracks.min() < 0 or tracks.max() >= _TRACKS_PER_LABEL):
        raise DatasetError(f"GTSRB track ids must lie in 0..{_TRACKS_PER_LABEL - 1}")
    return np.asarray(labels, dtype=np.int64) * _TRACKS_PER_LABEL + tracks


def _read_npz(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    (path,) = located.files
    x = read_npz_array(path, "x")
    y = class_numbers(read_npz_array(path, "y"), f"{path}: array 'y'")
    if x.dtype != np.uint8 or x.shape[1:] != (SIZE, SIZE, 3) or len(x) != len(y):
        raise DatasetError(f"{path}: expected x uint8 (N, 32, 32, 3) and N labels, got {x.dtype} {x.shape}, {y.shape}")
    groups = None
    if split == "train":
        try:
            track = class_numbers(read_npz_array(path, "track"), f"{path}: array 'track'")
        except DatasetError as exc:
            raise DatasetError(f"{path}: the training file must carry 'track' ids (frames of one sign)") from exc
        if track.shape != y.shape:
            raise DatasetError(f"{path}: {track.shape} track ids for {len(y)} images")
        groups = sign_groups(y, track)
    return whole_split(x, y, info.name, split, located.describe(), groups)


def _read_torchvision(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    if split == "train":
        (training,) = located.files
        files, labels, tracks = [], [], []
        for class_dir in sorted(p for p in training.iterdir() if p.is_dir()):
            for image in list_images(class_dir):
                files.append(image)
                labels.append(int(class_dir.name))
                tracks.append(int(image.name.split("_")[0]))
        groups = sign_groups(np.asarray(labels), np.asarray(tracks))
    else:
        images_dir, table = located.files
        files, labels = [], []
        for filename, class_id in _test_table(table):
            files.append(images_dir / filename)
            labels.append(class_id)
        groups = None
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise DatasetError(f"GTSRB {split}: {len(missing)} listed images are missing, e.g. {missing[:3]}")
    images = decoded_images(f"gtsrb-{split}", files, size=(SIZE, SIZE))
    return whole_split(images, np.asarray(labels, dtype=np.int64), info.name, split,
                       f"{located.describe()} (PPM files resized to 32x32, bilinear)", groups)


def _test_table(table: Path) -> list[tuple[str, int]]:
    """(file name, class) of each row of GT-final_test.csv; a missing column or a bad class number is
    named with its line."""
    rows = []
    with open(table, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter=";", skipinitialspace=True)
        missing = {"Filename", "ClassId"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{table}: lacks the column(s) {sorted(missing)} (header: {reader.fieldnames})")
        for row in reader:
            filename, class_id = row["Filename"], row["ClassId"]
            if not filename or Path(filename).name != filename or class_id is None \
                    or not (class_id.strip().isascii() and class_id.strip().isdigit()):
                raise DatasetError(f"{table}, line {reader.line_num}: needs a file name (in the images folder) and "
                                   f"a class number, got {filename!r} and {class_id!r}")
            rows.append((filename, int(class_id)))
    return rows


def read_gtsrb(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    """Either layout, told apart by what was found: an npz file or the PPM folders."""
    if located.files[0].suffix == ".npz":
        return _read_npz(info, split, located)
    return _read_torchvision(info, split, located)
