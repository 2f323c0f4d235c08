"""The small sample sets of foolbox (`foolbox/data`, MIT): 20 held-out images each of MNIST, Fashion-MNIST,
CIFAR-10, CIFAR-100 and ImageNet, one file per image named `<dataset>_<nn>_<label>.<ext>`.

Registered as `samples_<dataset>` with one split ("test", or "val" for ImageNet). Indices are the `<nn>` of
the file names; foolbox does not say which images of the source split they are. Images keep their stored
size, except ImageNet's, which come in several sizes and get the ImageNet evaluation transform (shorter
side 256, centre crop 224), as the `imagenet` dataset does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from securitynet.data.formats.image_files import decode_image
from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

_FOLDERS = ("samples", "foolbox_samples", "foolbox/data")


class SamplesLoader:
    """The files `<prefix>_<nn>_<label>.<ext>` of one sample set, in the first folder that has any."""

    def __init__(self, prefix: str, resize: int | None = None, crop: int | None = None) -> None:
        self.prefix, self.resize, self.crop = prefix, resize, crop
        self.pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)_(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)

    def _matching(self, folder: Path) -> list[tuple[int, int, Path]]:
        found = []
        for path in folder.iterdir():
            match = self.pattern.match(path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(found)

    def _transform_note(self) -> str:
        return "" if self.crop is None else f", resize {self.resize}, centre crop {self.crop}"

    def locate(self, info: DatasetInfo, split: str, roots: Sequence[Path]) -> Located | None:
        for root in roots:
            for folder in _FOLDERS:
                base = root / folder
                if base.is_dir():
                    found = self._matching(base)
                    if found:
                        return Located(files=tuple(p for _, _, p in found), root=root)
        return None

    def looked_for(self, info: DatasetInfo, split: str) -> list[str]:
        return [f"{self.prefix}_<nn>_<label>.png|jpg (in {', '.join(f + '/' for f in _FOLDERS)})"]

    def read(self, info: DatasetInfo, split: str, located: Located) -> ArraySplit:
        folder = located.files[0].parent
        found = self._matching(folder)
        numbers = [n for n, _, _ in found]
        if len(set(numbers)) != len(numbers):
            raise DatasetError(f"{folder}: two {self.prefix} samples share a number")
        images = []
        for _, _, path in found:
            if self.crop is not None:
                images.append(decode_image(path, self.resize, self.crop))
                continue
            with Image.open(path) as im:
                image = im.convert("L" if info.layout == "grey" else "RGB")
            images.append(np.asarray(image, dtype=np.uint8))
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise DatasetError(f"{folder}: {self.prefix} samples have different sizes {sorted(shapes)}")
        return ArraySplit(
            images=np.stack(images),
            labels=np.asarray([label for _, label, _ in found], dtype=np.int64),
            dataset=info.name,
            split=split,
            indices=np.asarray(numbers, dtype=np.int64),
            source=f"{len(found)} files {self.prefix}_*.* in {folder} (foolbox samples){self._transform_note()}",
        )
