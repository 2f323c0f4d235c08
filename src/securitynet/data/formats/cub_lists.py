"""CUB-200-2011 (Caltech-UCSD Birds), read from the folder layout of the official archive `CUB_200_2011.tgz`:

    CUB_200_2011/images.txt              "<image id> <relative path>"
    CUB_200_2011/image_class_labels.txt  "<image id> <class 1..200>"
    CUB_200_2011/train_test_split.txt    "<image id> <1 = train, 0 = test>"
    CUB_200_2011/images/<class folder>/<file>.jpg

Images are brought to 448x448 as the pytorchcv/imgclsmob CUB models are evaluated (shorter side 600,
centre crop 448; imgclsmob's --input-size 448 --resize-inv-factor 0.74667), decoded once into the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.formats.image_files import decoded_images
from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

RESIZE, CROP = 600, 448
ARCHIVE_URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1"
ARCHIVE_MD5 = "97eceeb196236b17998738112f37df78"
MARKERS = ("CUB_200_2011/images.txt", "CUB_200_2011/image_class_labels.txt",
           "CUB_200_2011/train_test_split.txt", "CUB_200_2011/images")


def _id_table(path: Path) -> dict[int, str]:
    table = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(f"{path}:{number}: expected '<image id> <value>', got {line!r}")
        table[int(parts[0])] = parts[1].strip()
    return table


def read_cub(info: DatasetInfo, split: str, located: Located) -> ArraySplit:
    images_txt, labels_txt, split_txt, images_dir = located.files
    paths, labels, is_train = _id_table(images_txt), _id_table(labels_txt), _id_table(split_txt)
    if set(paths) != set(labels) or set(paths) != set(is_train):
        raise DatasetError(f"{images_txt.parent}: images.txt, image_class_labels.txt and train_test_split.txt "
                           "list different image ids")
    wanted = "1" if split == "train" else "0"
    ids = sorted(i for i in paths if is_train[i] == wanted)
    files = [images_dir / paths[i] for i in ids]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"CUB-200-2011 {split}: {len(missing)} listed images are missing, e.g. {missing[:3]}")
    y = np.asarray([int(labels[i]) - 1 for i in ids], dtype=np.int64)  # classes are numbered from 1
    images = decoded_images(f"cub200-{split}", files, resize=RESIZE, crop=CROP)
    source = f"{located.describe()} (resize {RESIZE}, centre crop {CROP}; indices in image-id order)"
    return whole_split(images, y, info.name, split, source)
