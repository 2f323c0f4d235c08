"""scikit-learn's digits: 1,797 8x8 grey images of the digits 0-9, shipped inside scikit-learn (no download).

Pixel values are counts 0..16 in the original; they are scaled to uint8 by round(v * 255 / 16) so that
digits enter models in the same uint8 convention as every other dataset (0 stays 0, 16 becomes 255).

scikit-learn defines no train/test split. "train" and "test" here are a fixed stratified half/half split
(`train_test_split(test_size=0.5, stratify=labels, random_state=SPLIT_SEED)`): the self-trained digits zoo
trains on "train", and membership inference uses "test" as non-members, so this split must never change.
Indices are positions within each split; `original_indices(split)` gives positions in `load_digits()`.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from securitynet.data.locate import Located
from securitynet.data.split import ArraySplit, whole_split
from securitynet.errors import DatasetError

if TYPE_CHECKING:
    from securitynet.data.registry import DatasetInfo

SPLIT_SEED = 0
TEST_FRACTION = 0.5


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """0..16 counts -> 0..255 uint8 (round half to even, as numpy rounds)."""
    return np.round(np.asarray(values, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)


def _load_digits():
    from sklearn.datasets import load_digits  # scikit-learn is slow to import; only when digits are read

    return load_digits()


@lru_cache(maxsize=1)
def _split_positions() -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    labels = _load_digits().target
    train, test = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return {"train": np.sort(train).astype(np.int64), "test": np.sort(test).astype(np.int64)}


def original_indices(split: str) -> np.ndarray:
    """Positions in `sklearn.datasets.load_digits()` of the images of `split`, in split order."""
    positions = _split_positions()
    if split not in positions:
        raise DatasetError(f"digits has no split {split!r}; its splits are: train, test")
    return positions[split].copy()


class DigitsLoader:
    """Finds scikit-learn's bundled digits file and reads a split of it."""

    def locate(self, info: DatasetInfo, split: str, roots) -> Located | None:
        spec = importlib.util.find_spec("sklearn")
        if spec is None or spec.origin is None:
            return None
        data_file = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        return Located(files=(data_file,), root=data_file.parent) if data_file.is_file() else None

    def looked_for(self, info: DatasetInfo, split: str) -> list[str]:
        return ["sklearn/datasets/data/digits.csv.gz inside the installed scikit-learn package"]

    def read(self, info: DatasetInfo, split: str, located: Located) -> ArraySplit:
        import sklearn

        bunch = _load_digits()
        positions = original_indices(split)
        source = (
            f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__}), values x255/16 rounded, "
            f"stratified {1 - TEST_FRACTION:g}/{TEST_FRACTION:g} split with random_state={SPLIT_SEED}"
        )
        images = scale_to_uint8(bunch.images[positions])
        return whole_split(images, bunch.target[positions].astype(np.int64), info.name, split, source)
