"""Datasets of image files (CUB-200-2011, ImageNet validation): layouts, labels, the evaluation transform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from securitynet.data import DatasetError, load_split
from securitynet.data.formats.image_files import decode_image
from securitynet.data.formats.imagenet_val import imagenet_classes

RNG = np.random.default_rng(0)


def _image(path: Path, size: tuple[int, int] = (37, 29)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_resize_and_crop_match_torchvision(tmp_path: Path) -> None:
    from torchvision import transforms

    _image(tmp_path / "a.png", (150, 97))
    ours = decode_image(tmp_path / "a.png", resize=64, crop=56)
    with Image.open(tmp_path / "a.png") as im:
        theirs = np.asarray(transforms.Compose([transforms.Resize(64), transforms.CenterCrop(56)])(im.convert("RGB")))
    assert ours.shape == (56, 56, 3)
    np.testing.assert_array_equal(ours, theirs)


def _cub(root: Path) -> list[tuple[int, str, int, int]]:
    """A tiny CUB_200_2011 folder: (id, path, class 1..200, is_train)."""
    base = root / "CUB_200_2011"
    rows = [(1, "001.Black_footed_Albatross/a.jpg", 1, 1), (2, "001.Black_footed_Albatross/b.jpg", 1, 0),
            (3, "200.Common_Yellowthroat/c.jpg", 200, 1), (4, "200.Common_Yellowthroat/d.jpg", 200, 0),
            (5, "002.Laysan_Albatross/e.jpg", 2, 1)]
    for _id, rel, _label, _train in rows:
        _image(base / "images" / rel, (60, 45))
    (base / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _, _ in rows))
    (base / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c, _ in rows))
    (base / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, _, t in rows))
    return rows


def test_cub_official_layout(tmp_path: Path, variant, isolated_cache: Path) -> None:
    _cub(tmp_path)
    variant("cub200", "cub200_fixture", split_sizes=None)
    train = load_split("cub200_fixture", "train", roots=[tmp_path])
    test = load_split("cub200_fixture", "test", roots=[tmp_path])
    assert train.images.shape == (3, 448, 448, 3) and isinstance(train.images, np.memmap)
    assert train.labels.tolist() == [0, 199, 1] and test.labels.tolist() == [0, 199]
    expected = decode_image(tmp_path / "CUB_200_2011/images/200.Common_Yellowthroat/c.jpg", 600, 448)
    np.testing.assert_array_equal(train.images[1], expected)


def test_cub_with_a_missing_image_is_refused(tmp_path: Path, variant, isolated_cache: Path) -> None:
    _cub(tmp_path)
    (tmp_path / "CUB_200_2011/images/002.Laysan_Albatross/e.jpg").unlink()
    variant("cub200", "cub200_fixture", split_sizes=None)
    with pytest.raises(DatasetError, match="1 listed images are missing"):
        load_split("cub200_fixture", "train", roots=[tmp_path])


def test_imagenet_class_list_is_the_sorted_wnid_order() -> None:
    classes = imagenet_classes()
    wnids = [w for w, _ in classes]
    assert len(classes) == 1000 and wnids == sorted(set(wnids))
    assert classes[0] == ("n01440764", "tench") and classes[999][0] == "n15075141"


def test_imagenet_imagefolder_layout(tmp_path: Path, isolated_cache: Path) -> None:
    val = tmp_path / "imagenet" / "val"
    for wnid in ("n15075141", "n01440764"):
        for k in range(2):
            _image(val / wnid / f"ILSVRC2012_val_{k}_{wnid}.JPEG", (300, 260))
    split = load_split("imagenet", "val", roots=[tmp_path])
    assert split.images.shape == (4, 224, 224, 3)
    assert split.labels.tolist() == [0, 0, 999, 999]
    assert "2 <wnid>/ folders" in split.source


def test_imagenet_flat_folder_with_kaggle_or_caffe_labels(tmp_path: Path, isolated_cache: Path) -> None:
    val = tmp_path / "imagenet" / "val"
    names = [f"ILSVRC2012_val_{i:08d}" for i in (1, 2, 3)]
    for name in names:
        _image(val / f"{name}.JPEG", (256, 256))
    (tmp_path / "imagenet" / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        f"{names[0]},n01443537 1 2 3 4\n{names[1]},n01440764 5 6 7 8\n{names[2]},n15075141 1 1 1 1\n"
    )
    split = load_split("imagenet", "val", roots=[tmp_path])
    assert split.labels.tolist() == [1, 0, 999] and "kaggle" in split.source
    (tmp_path / "imagenet" / "LOC_val_solution.csv").unlink()
    (val / "val.txt").write_text("".join(f"{n}.JPEG {label}\n" for n, label in zip(names, (5, 6, 7), strict=True)))
    assert load_split("imagenet", "val", roots=[tmp_path]).labels.tolist() == [5, 6, 7]


def test_imagenet_flat_folder_without_labels_says_what_to_add(tmp_path: Path, isolated_cache: Path) -> None:
    _image(tmp_path / "imagenet" / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DatasetError, match="no labels; put meta.bin"):
        load_split("imagenet", "val", roots=[tmp_path])


def test_imagenet_unknown_wnid_is_refused(tmp_path: Path, isolated_cache: Path) -> None:
    _image(tmp_path / "imagenet" / "val" / "n99999999" / "x.JPEG")
    with pytest.raises(DatasetError, match="not one of the 1000 ImageNet-1k classes"):
        load_split("imagenet", "val", roots=[tmp_path])


def test_imagenet_flat_folder_with_torchvision_meta_bin(tmp_path: Path, isolated_cache: Path) -> None:
    import torch

    val = tmp_path / "imagenet" / "val"
    for i in (2, 1):
        _image(val / f"ILSVRC2012_val_{i:08d}.JPEG", (240, 240))
    # torchvision's parse_devkit_archive saves (wnid_to_classes, val_wnids), the wnids in file-name order.
    torch.save(({"n01440764": ("tench",), "n01443537": ("goldfish",)}, ["n01443537", "n01440764"]),
               tmp_path / "imagenet" / "meta.bin")
    split = load_split("imagenet", "val", roots=[tmp_path])
    assert split.labels.tolist() == [1, 0] and "torchvision_meta" in split.source
