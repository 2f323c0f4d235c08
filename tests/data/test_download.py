"""download_dataset through torchvision / medmnist against a local HTTP server (never the internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from securitynet.data import DatasetError, download_dataset, load_split, resolve_member_split
from securitynet.data.formats.idx import write_idx


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, served folder, requested paths) of an HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served, requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fake_mnist(folder: Path) -> list[tuple[str, str]]:
    arrays = {
        "train-images-idx3-ubyte": np.zeros((20, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": np.arange(20, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": np.zeros((10_000, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(10_000, dtype=np.uint8) % 10,
    }
    resources = []
    for name, array in arrays.items():
        path = folder / f"{name}.gz"
        write_idx(path, array)
        resources.append((path.name, _md5(path)))
    return resources


def test_mnist_download_lands_where_the_loader_reads(server, tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import MNIST

    url, served, requests = server
    monkeypatch.setattr(MNIST, "mirrors", [url])
    monkeypatch.setattr(MNIST, "resources", _fake_mnist(served))
    root = tmp_path / "data"
    assert download_dataset("mnist", root) == root
    assert (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    assert not list(root.glob(".securitynet-download-*"))
    test = load_split("mnist", "test", roots=[root])
    assert len(test) == 10_000 and "MNIST/raw" in test.source
    assert resolve_member_split("mnist", roots=[root])[0] == "train"
    fetched = len(requests)
    download_dataset("mnist", root)  # already there: nothing fetched again
    assert len(requests) == fetched


def test_offline_download_fails_clearly_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{_closed_port()}/cifar-10-python.tar.gz")
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match=r"downloading dataset 'cifar10'.*may be offline.*Nothing was written"):
        download_dataset("cifar10", root)
    assert list(root.iterdir()) == []


def test_a_corrupted_download_is_not_kept(server, tmp_path: Path, monkeypatch) -> None:
    from torchvision.datasets import MNIST

    url, served, _ = server
    resources = _fake_mnist(served)
    monkeypatch.setattr(MNIST, "mirrors", [url])
    monkeypatch.setattr(MNIST, "resources", [(name, "0" * 32) for name, _ in resources])  # wrong checksums
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="downloading dataset 'mnist'"):
        download_dataset("mnist", root)
    assert list(root.iterdir()) == []


def test_medmnist_download_through_the_package(server, tmp_path: Path, monkeypatch, shared_data: Path) -> None:
    import medmnist

    url, served, _ = server
    shutil.copy(shared_data / "medmnist" / "breastmnist.npz", served / "breastmnist.npz")
    monkeypatch.setitem(medmnist.INFO["breastmnist"], "url", f"{url}breastmnist.npz")
    root = tmp_path / "data"
    download_dataset("breastmnist", root)
    assert (root / "breastmnist.npz").is_file()
    assert len(load_split("breastmnist", "val", roots=[root])) == 78


def test_datasets_without_a_download_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="'imagenet' cannot be downloaded automatically.*image-net.org"):
        download_dataset("imagenet", tmp_path)
    with pytest.raises(DatasetError, match="'pneumoniamnist_reduced' cannot be downloaded"):
        download_dataset("pneumoniamnist_reduced", tmp_path)
    with pytest.raises(DatasetError, match="no split"):
        download_dataset("svhn", tmp_path, splits=["validation"])
    with pytest.raises(DatasetError, match="train_subset_5k.*have no download"):
        download_dataset("mnist", tmp_path, splits=["train_subset_5k"])
    assert list(tmp_path.iterdir()) == []
