"""Datasets stored as one image file per example (CUB-200-2011, ImageNet, GTSRB as torchvision unpacks it).

Images of varying size are brought to one size the way the models' evaluation does it (torchvision's
`Resize(resize)` on the shorter side with bilinear antialiasing, then `CenterCrop(crop)`), decoded once
into an `.npy` in the cache folder and memory-mapped afterwards: ImageNet validation at 224 px is 7.5 GB,
too much to hold in memory and too slow to decode on every run. The cache key covers every file's
name, size and modification time and the resize/crop, so a changed folder is decoded again.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from securitynet import config
from securitynet.errors import DatasetError
from securitynet.files import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp", ".tif", ".tiff")


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """torchvision `Resize(size)` for PIL images: the shorter side becomes `size`, aspect ratio kept."""
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    if short == size:
        return image
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return image.resize((new_w, new_h), Image.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """torchvision `CenterCrop(size)` (the image is at least `size` on both sides here)."""
    w, h = image.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def decode_image(path: Path, resize: int | None, crop: int | None, size: tuple[int, int] | None = None) -> np.ndarray:
    """One image as uint8 (H, W, 3): either resized to exactly `size` (W, H), or shorter side + centre crop."""
    try:
        with Image.open(path) as im:
            image = im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc
    if size is not None:
        image = image.resize(size, Image.BILINEAR)
    else:
        if resize is not None:
            image = resize_shorter_side(image, resize)
        if crop is not None:
            image = center_crop(image, crop)
    return np.asarray(image, dtype=np.uint8)


def _listing_key(tag: str, files: Sequence[Path], options: str) -> str:
    digest = hashlib.sha256(f"{tag}\x00{options}\x00".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\x00{stat.st_size}\x00{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def decoded_images(
    tag: str,
    files: Sequence[Path],
    *,
    resize: int | None = None,
    crop: int | None = None,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """All `files` decoded to one uint8 array (N, H, W, 3), memory-mapped from the cache after the first time."""
    if not files:
        raise DatasetError(f"{tag}: no image files")
    if size is None and crop is None:
        raise DatasetError(f"{tag}: images of varying size need a crop or a fixed size")
    options = f"resize={resize},crop={crop},size={size}"
    key = _listing_key(tag, files, options)
    folder = config.cache_dir() / "datasets" / "decoded"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{tag.replace('/', '-')}-{key}.npy"
    if target.exists():
        return np.load(target, mmap_mode="r")
    height, width = (size[1], size[0]) if size is not None else (crop, crop)
    with atomic_path(target, suffix=".npy.part") as tmp_name:
        _decode_into(tmp_name, tag, files, (height, width), resize, crop, size, workers)
    return np.load(target, mmap_mode="r")


def _decode_into(tmp_name, tag, files, hw, resize, crop, size, workers) -> None:
    out = np.lib.format.open_memmap(tmp_name, mode="w+", dtype=np.uint8, shape=(len(files), *hw, 3))

    def work(i: int) -> None:
        out[i] = decode_image(files[i], resize, crop, size)

    workers = workers or min(8, os.cpu_count() or 1)
    _run_with_progress(work, len(files), f"decoding {tag} ({len(files)} images, once)", workers)
    out.flush()


def _run_with_progress(work, total: int, description: str, workers: int) -> None:
    from securitynet.progress import ProgressDisplay

    chunk = max(1, math.ceil(total / 200))
    # One decoding pass is a step of a larger job: a terminal bar, no log line.
    with (ProgressDisplay(total, description, enabled=total >= 500, transient=True, lines=False) as progress,
          ThreadPoolExecutor(workers) as pool):
        # PIL releases the GIL while decoding and resizing, so threads use several cores.
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            list(pool.map(work, range(start, stop)))
            progress.advance(stop - start)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
