"""Hostile dataset files through the real loading path (`load_split` with the file under a data root):
CIFAR python batches (pickles), npz archives (GTSRB, MedMNIST), CSV (MNIST 5k subset, GTSRB test table),
IDX (MNIST). Each either loads as a well-formed split or fails with one DatasetError line."""

from __future__ import annotations

import gzip
import io
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from securitynet.data.formats.cifar_pickle import read_batches
from securitynet.data.formats.idx import write_idx
from securitynet.data.registry import clear_cache, get_dataset, load_split
from securitynet.data.split import ArraySplit, class_numbers
from securitynet.errors import DatasetError

from .conftest import Sandbox, outcome, sandbox
from .strategies import PAYLOAD_KINDS, PROTOCOLS, Payload, damaged

CIFAR_TEST = "cifar-10-batches-py/test_batch"


def _load(box: Sandbox, name: str, split: str) -> ArraySplit | DatasetError:
    clear_cache()  # the in-memory cache is keyed by file signature; every example has new files
    result = outcome(lambda: load_split(name, split, roots=[box.root]), box)
    if isinstance(result, ArraySplit):  # whatever loads must be what the dataset promises
        info = get_dataset(name)
        assert result.images.dtype == np.uint8 and len(result.images) == len(result.labels)
        assert result.labels.min() >= 0 and result.labels.max() < info.num_classes
    return result


def _write(box: Sandbox, relative: str, data: bytes) -> None:
    path = box.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _cifar_batch(images: np.ndarray, labels: object, protocol: int = 2, **extra: object) -> bytes:
    data = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), 3 * 32 * 32)
    return pickle.dumps({"batch_label": "testing batch 1 of 1", "data": data, "labels": labels, **extra},
                        protocol=protocol)


VALID_CIFAR = _cifar_batch(np.zeros((4, 32, 32, 3), np.uint8), [0, 1, 2, 3])


@given(data=damaged(VALID_CIFAR))
def test_damaged_cifar_batch(data: bytes) -> None:
    with sandbox() as box:
        _write(box, CIFAR_TEST, data)
        assert isinstance(_load(box, "cifar10", "test"), DatasetError)  # never 10,000 images


@given(labels=st.one_of(
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.none()), min_size=0, max_size=6),
    st.integers(), st.text(max_size=5), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)),
    rows=st.integers(0, 5), dtype=st.sampled_from(["uint8", "float64", "int16", "<U2"]))
@example(labels={}, rows=1, dtype="uint8")  # found by this test: TypeError from int() of a dict
@example(labels=0, rows=1, dtype="uint8")  # TypeError: len() of unsized object
@example(labels=[], rows=0, dtype="uint8")
def test_cifar_batch_with_wrong_contents(labels: object, rows: int, dtype: str) -> None:
    with sandbox() as box:
        images = np.zeros((rows, 32, 32, 3), dtype=dtype)
        _write(box, CIFAR_TEST, _cifar_batch(images, labels))
        assert isinstance(_load(box, "cifar10", "test"), DatasetError)


@given(how=PAYLOAD_KINDS, protocol=PROTOCOLS, where=st.sampled_from(["top", "data", "labels", "extra"]))
def test_cifar_batch_with_a_pickle_payload_is_refused_unrun(how: str, protocol: int, where: str) -> None:
    with sandbox() as box:
        payload = Payload(box.marker, how)
        images = np.zeros((2, 32, 32, 3), np.uint8)
        if where == "top":
            data = pickle.dumps(payload, protocol=protocol)
        elif where == "data":
            data = pickle.dumps({"data": payload, "labels": [0, 1]}, protocol=protocol)
        elif where == "labels":
            data = _cifar_batch(images, [0, payload], protocol=protocol)
        else:
            data = _cifar_batch(images, [0, 1], protocol=protocol, filenames=[payload])
        _write(box, CIFAR_TEST, data)
        assert isinstance(_load(box, "cifar10", "test"), DatasetError)


def _npz(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


VALID_GTSRB = _npz(x=np.zeros((3, 32, 32, 3), np.uint8), y=np.array([0, 1, 42]))


@given(data=damaged(VALID_GTSRB))
def test_damaged_npz(data: bytes) -> None:
    with sandbox() as box:
        _write(box, "gtsrb/gtsrb_test_32x32.npz", data)
        assert isinstance(_load(box, "gtsrb", "test"), DatasetError)


_ARRAYS = st.sampled_from([
    np.zeros((2, 32, 32, 3), np.uint8), np.zeros((2, 28, 28), np.uint8), np.zeros((2, 32, 32, 3), np.float32),
    np.array([0, 1]), np.array([-1, 99]), np.array(["a", "b"]), np.zeros((0,)), np.array(3), np.array([[1], [2]]),
    np.array([1.5, np.nan]),
])


@given(x=_ARRAYS, y=_ARRAYS, split=st.sampled_from(["test", "train"]), medmnist=st.booleans())
def test_npz_with_wrong_arrays(x: np.ndarray, y: np.ndarray, split: str, medmnist: bool) -> None:
    with sandbox() as box:
        if medmnist:
            _write(box, "medmnist/pneumoniamnist.npz", _npz(**{f"{split}_images": x, f"{split}_labels": y}))
            assert isinstance(_load(box, "pneumoniamnist", split), DatasetError)
        else:
            _write(box, f"gtsrb/gtsrb_{split}_32x32.npz", _npz(x=x, y=y, track=y))
            assert isinstance(_load(box, "gtsrb", split), DatasetError)


@given(how=PAYLOAD_KINDS, protocol=PROTOCOLS)
def test_npz_with_a_pickled_object_array_is_refused_unrun(how: str, protocol: int) -> None:
    with sandbox() as box:
        objects = np.empty(2, dtype=object)
        objects[:] = [Payload(box.marker, how), 1]
        _write(box, "gtsrb/gtsrb_test_32x32.npz", _npz(x=np.zeros((2, 32, 32, 3), np.uint8), y=objects))
        assert isinstance(_load(box, "gtsrb", "test"), DatasetError)


@given(shape=st.lists(st.integers(0, 2**40), min_size=1, max_size=4))
def test_npz_header_claiming_a_huge_array_is_refused_without_allocating(shape: list[int]) -> None:
    header = {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(b"\0" * 64)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("x.npy", member.getvalue())
        zf.writestr("y.npy", member.getvalue())
    with sandbox() as box:
        _write(box, "gtsrb/gtsrb_test_32x32.npz", out.getvalue())
        assert isinstance(_load(box, "gtsrb", "test"), DatasetError)


_CSV_TEXT = st.text(alphabet=st.sampled_from(list("0123456789,;-. \n\"abc\t\r")), max_size=600)


@given(text=_CSV_TEXT, raw=st.binary(max_size=300), use_raw=st.booleans(), gz=st.booleans())
def test_hostile_mnist_csv(text: str, raw: bytes, use_raw: bool, gz: bool) -> None:
    with sandbox() as box:
        data = raw if use_raw else text.encode()
        _write(box, "mnist/mnist_5k_train_subset.csv.gz", gzip.compress(data) if gz else data)
        assert isinstance(_load(box, "mnist", "train_subset_5k"), DatasetError)


@given(text=st.text(max_size=400), header=st.sampled_from(["Filename;ClassId", "Filename;Width", "ClassId", ""]))
@example(text="0", header="Filename;ClassId")  # found by this test: a row without ClassId, TypeError
@example(text="../../../etc/hostname;1", header="Filename;ClassId")  # a name outside the images folder
def test_hostile_gtsrb_test_table(text: str, header: str) -> None:
    with sandbox() as box:
        (box.root / "gtsrb/GTSRB/Final_Test/Images").mkdir(parents=True)
        _write(box, "gtsrb/GT-final_test.csv", f"{header}\n{text}".encode(errors="surrogatepass"))
        assert isinstance(_load(box, "gtsrb", "test"), DatasetError)


def _idx(array: np.ndarray) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        write_idx(Path(tmp) / "file", array)
        return (Path(tmp) / "file").read_bytes()


VALID_IMAGES = _idx(np.zeros((3, 28, 28), np.uint8))
VALID_LABELS = _idx(np.array([0, 1, 2], np.uint8))


@given(images=damaged(VALID_IMAGES), labels=damaged(VALID_LABELS), gz=st.booleans())
def test_damaged_idx_pair(images: bytes, labels: bytes, gz: bool) -> None:
    with sandbox() as box:
        suffix = ".gz" if gz else ""
        _write(box, f"mnist/t10k-images-idx3-ubyte{suffix}", gzip.compress(images) if gz else images)
        _write(box, f"mnist/t10k-labels-idx1-ubyte{suffix}", gzip.compress(labels) if gz else labels)
        assert isinstance(_load(box, "mnist", "test"), DatasetError)


def test_labels_that_are_not_whole_numbers_are_refused_not_cast(tmp_path: Path) -> None:
    """Found by the suite (a RuntimeWarning on casting NaN): float labels were cast, 1.5 becoming 1."""
    path = tmp_path / "batch"
    path.write_bytes(_cifar_batch(np.zeros((2, 32, 32, 3), np.uint8), [1.5, 2.0]))
    with pytest.raises(DatasetError, match="must hold whole class numbers, got float64"):
        read_batches([path], "labels")
    with pytest.raises(DatasetError, match="'y' must hold whole class numbers"):
        class_numbers(np.array([1.5, np.nan]), "gtsrb.npz: array 'y'")
    assert class_numbers(np.array([3], np.uint8), "y").dtype == np.int64
