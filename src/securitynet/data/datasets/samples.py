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

import numpy as np
from PIL import Image

from securitynet.data.formats.image_files import decode_image
from securitynet.data.locate import Located
from securitynet.data.registry import DatasetInfo, register_dataset
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError

_FOLDERS = ("samples", "foolbox_samples", "foolbox/data")


class SamplesLoader:
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


def _register(
    dataset: str, prefix: str, num_classes: int, shape: tuple[int, ...], split: str, what: str, **transform: int
) -> None:
    register_dataset(
        DatasetInfo(
            name=f"samples_{dataset}",
            num_classes=num_classes,
            category="natural",
            image_shape=shape,
            splits=(split,),
            member_splits=(),
            nonmember_split=split,
            license="MIT (foolbox); images from " + what,
            homepage="https://github.com/bethgelab/foolbox/tree/master/foolbox/data",
            description=(
                f"foolbox's sample images of {what}: a handful of held-out {split} images with their labels, "
                "for smoke tests and as an out-of-distribution query source."
            ),
            loader=SamplesLoader(prefix, **transform),
            how_to_get="the files are in ../shared/data/samples and in the foolbox PyPI package (foolbox/data)",
        )
    )


_register("mnist", "mnist", 10, (28, 28), "test", "MNIST")
_register("fashionmnist", "fashionMNIST", 10, (28, 28), "test", "Fashion-MNIST")
_register("cifar10", "cifar10", 10, (32, 32, 3), "test", "CIFAR-10")
_register("cifar100", "cifar100", 100, (32, 32, 3), "test", "CIFAR-100")
_register("imagenet", "imagenet", 1000, (224, 224, 3), "val", "ImageNet (validation)", resize=256, crop=224)
