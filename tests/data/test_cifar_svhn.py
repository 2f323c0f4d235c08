"""CIFAR-10/100 pickled batches (read without executing code) and SVHN .mat files, from generated fixtures."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from securitynet.data import DatasetError, get_dataset, load_split
from securitynet.data.datasets.table import CIFAR10_FILES, CIFAR100_FILES
from securitynet.data.formats.cifar_pickle import read_batch, write_batch


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_file_names_are_those_torchvision_writes() -> None:
    from torchvision.datasets import CIFAR10, CIFAR100, SVHN

    for ours, theirs in ((CIFAR10_FILES, CIFAR10), (CIFAR100_FILES, CIFAR100)):
        base, train, test = ours
        assert base == theirs.base_folder
        assert list(train) == [name for name, _ in theirs.train_list]
        assert list(test) == [name for name, _ in theirs.test_list]
    svhn = get_dataset("svhn")
    for split, (_url, filename, _md5) in SVHN.split_list.items():
        assert svhn.loader.files[split] == ((filename,),)


def test_cifar10_batches_become_hwc_images(tmp_path: Path, variant) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = [_images(4, seed) for seed in range(6)]
    for i in range(5):
        write_batch(folder / f"data_batch_{i + 1}", batches[i], [i] * 4, "labels")
    write_batch(folder / "test_batch", batches[5], [9, 8, 7, 6], "labels")
    variant("cifar10", "cifar10_fixture", split_sizes=None)
    train = load_split("cifar10_fixture", "train", roots=[tmp_path])
    assert train.images.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(train.images, np.concatenate(batches[:5]))
    np.testing.assert_array_equal(train.labels, np.repeat(np.arange(5), 4))
    test = load_split("cifar10_fixture", "test", roots=[tmp_path])
    np.testing.assert_array_equal(test.labels, [9, 8, 7, 6])


def test_channel_order_follows_the_cifar_layout(tmp_path: Path) -> None:
    """A row holds 1024 red, then 1024 green, then 1024 blue values."""
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    with open(tmp_path / "batch", "wb") as fh:
        pickle.dump({b"data": row[None, :], b"fine_labels": [42]}, fh, protocol=2)
    from securitynet.data.formats.cifar_pickle import read_batches

    images, labels = read_batches([tmp_path / "batch"], "fine_labels")
    assert images.shape == (1, 32, 32, 3) and images[0, 5, 7].tolist() == [10, 20, 30]
    assert labels.tolist() == [42]


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_batch_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({"data": _Exploit(str(marker)), "labels": [0]}, fh, protocol=2)
    with pytest.raises(DatasetError, match=r"refused to unpickle (posix|os)\.system"):
        read_batch(tmp_path / "data_batch_1")
    assert not marker.exists()


def test_a_truncated_batch_is_reported(tmp_path: Path) -> None:
    write_batch(tmp_path / "b", _images(2, 0), [0, 1], "labels")
    data = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="not a readable CIFAR batch"):
        read_batch(tmp_path / "b")


def test_cifar100_uses_fine_labels(tmp_path: Path, variant) -> None:
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    write_batch(folder / "train", _images(3, 0), [99, 0, 50], "fine_labels")
    write_batch(folder / "test", _images(2, 1), [1, 2], "fine_labels")
    variant("cifar100", "cifar100_fixture", split_sizes=None)
    assert load_split("cifar100_fixture", "train", roots=[tmp_path]).labels.tolist() == [99, 0, 50]


def test_cifar_files_of_the_wrong_size_are_not_official(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_batch(folder / "test_batch", _images(3, 0), [0, 1, 2], "labels")
    with pytest.raises(DatasetError, match="official split has 10000"):
        load_split("cifar10", "test", roots=[tmp_path])


def test_svhn_mat_files_map_label_10_to_digit_0(tmp_path: Path, variant) -> None:
    images = _images(5, 3)
    labels = np.array([[10], [1], [2], [10], [9]])
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": images.transpose(1, 2, 3, 0), "y": labels})
    variant("svhn", "svhn_fixture", split_sizes=None)
    test = load_split("svhn_fixture", "test", roots=[tmp_path])
    np.testing.assert_array_equal(test.images, images)
    assert test.labels.tolist() == [0, 1, 2, 0, 9]


# A batch as the official files store it: a Python 2 protocol-2 pickle with byte-string keys and an array
# rebuilt through numpy.core.multiarray._reconstruct (here np.arange(6, dtype=uint8).reshape(2, 3)).
PY2_BATCH = (
    b"\x80\x02}q\x00(U\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85U\x01b"
    b"\x87Rq\x04(K\x01K\x02K\x03\x86cnumpy\ndtype\nq\x05U\x02u1K\x00K\x01\x87Rq\x06(K\x03U\x01|NNNJ\xff\xff\xff\xff"
    b"J\xff\xff\xff\xffK\x00tb\x89U\x06\x00\x01\x02\x03\x04\x05tbU\x06labelsq\x07]q\x08(K\x01K\x02eu."
)


def test_python2_pickles_like_the_official_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "batch").write_bytes(PY2_BATCH)
    batch = read_batch(tmp_path / "batch")
    assert batch["data"].tolist() == [[0, 1, 2], [3, 4, 5]] and batch["data"].dtype == np.uint8
    assert batch["labels"] == [1, 2]
