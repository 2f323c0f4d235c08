"""The cache listing and cleaning (`securitynet cache clean`) and lock files that do not outlive a fetch."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock
from rich.console import Console
from typer.testing import CliRunner

from securitynet.cache_contents import KINDS, cache_entries, human_size, remove_entries, remove_stale_locks
from securitynet.cli import app, common


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SECURITYNET_CACHE", str(root))
    files = {
        "weights/pytorchcv/resnet20_cifar10/resnet20.pth": 3000,
        "weights/pytorchcv/resnet20_cifar10/resnet20.pth.part": 100,
        "weights-archives/0123abcd/medmnist.zip": 2048,
        "posteriors/ab/abcdef/split1.npy": 400,
        "posteriors/ab/abcdef/split1.json": 50,
        "mia-references/cifar10/resnet20/key1.safetensors": 5000,
        "datasets/npz/mnist-x.npy": 10,
        "locks/left-by-a-killed-fetch.lock": 0,
        "someone-elses-file.txt": 7,  # not ours: never listed, never removed
    }
    for name, size in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    return root


def test_entries_by_kind_with_sizes(cache: Path) -> None:
    entries = {(e.kind, e.item): (len(e.files), e.bytes) for e in cache_entries(cache)}
    assert entries == {
        ("weights", "weights/pytorchcv/resnet20_cifar10"): (2, 3100),
        ("weights", "weights-archives/0123abcd"): (1, 2048),
        ("posteriors", "posteriors/ab/abcdef"): (2, 450),
        ("reference-models", "mia-references/cifar10/resnet20"): (1, 5000),
        ("datasets", "datasets/npz/mnist-x.npy"): (1, 10),
        ("locks", "locks/left-by-a-killed-fetch.lock"): (1, 0),
    }
    assert human_size(3100) == "3.0 KiB" and human_size(10) == "10 B"


def test_clean_lists_first_and_removes_only_with_yes(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = CliRunner().invoke(app, ["cache", "clean", "posteriors", "reference-models", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["item"], r["bytes"], r["removed"]) for r in rows] == [
        ("posteriors/ab/abcdef", 450, False), ("mia-references/cifar10/resnet20", 5000, False)]
    assert (cache / "posteriors/ab/abcdef/split1.npy").exists()
    assert not (cache / "locks/left-by-a-killed-fetch.lock").exists()  # a stale lock goes at once

    monkeypatch.setattr(common, "console", Console(width=80, force_terminal=False, color_system=None))
    table = CliRunner().invoke(app, ["cache", "clean"])
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert "nothing removed: add --yes" in table.stdout

    removed = CliRunner().invoke(app, ["cache", "clean", "--yes", "posteriors", "reference-models"])
    assert removed.exit_code == 0, removed.output
    assert not (cache / "posteriors").exists() and not (cache / "mia-references").exists()
    assert (cache / "weights/pytorchcv/resnet20_cifar10/resnet20.pth").exists()  # not asked for
    assert (cache / "someone-elses-file.txt").exists()
    assert "removed 2 item(s), 5.3 KiB" in " ".join(removed.stdout.split())


def test_unknown_kind_is_one_line(cache: Path) -> None:
    result = CliRunner().invoke(app, ["cache", "clean", "model-weights"])
    assert result.exit_code == 1
    assert "unknown cache kind(s) ['model-weights']" in " ".join(result.output.split())


def test_held_locks_and_weights_under_fetch_are_kept(cache: Path) -> None:
    held = cache / "locks" / "fetch-in-progress.lock"
    with FileLock(str(held)):
        assert remove_stale_locks(cache) == 1  # only the killed fetch's lock
        outcome = remove_entries(cache_entries(cache, ["weights", "locks"]), cache)
        assert {entry.kind for entry, _why in outcome.kept} == {"weights", "locks"}
        assert (cache / "weights/pytorchcv/resnet20_cifar10/resnet20.pth").exists() and held.exists()
    outcome = remove_entries(cache_entries(cache, ["weights"]), cache)
    assert not outcome.kept and not (cache / "weights").exists()


def test_cache_folders_are_the_writers_folders(cache: Path) -> None:
    from securitynet.attacks.backdoor.mntd import CACHE_PURPOSE, meta_cache_dir
    from securitynet.catalog.card import ModelCard
    from securitynet.engine.cache import PosteriorCache
    from securitynet.engine.context import JobContext
    from securitynet.zoo.weights import card_cache_dir

    folders = {folder for kind in KINDS for folder in kind.folders}
    card = ModelCard.from_dict({"id": "a/b", "name": "b", "source": "test", "dataset": "mnist"})
    ctx = JobContext.standalone(card, device="cpu", artifacts_root=cache.parent / "artifacts")
    mntd = meta_cache_dir(ctx.cache_dir(CACHE_PURPOSE), "mnist", "k")
    for path in (card_cache_dir(card), ctx.reference_models.root, mntd, PosteriorCache().root):
        assert path.relative_to(cache).parts[0] in folders


def test_a_fetch_lock_leaves_no_file_and_a_waiter_takes_a_fresh_one(cache: Path) -> None:
    from securitynet.zoo.weights import _lock

    locks = cache / "locks"
    (locks / "left-by-a-killed-fetch.lock").unlink()
    order: list[str] = []

    def waiter() -> None:
        with _lock(Path("/weights/x.pth")):
            # a linked file again: re-created after the first holder removed the one this thread waited on
            order.append(f"waiter holds {len(list(locks.iterdir()))} lock file")

    with _lock(Path("/weights/x.pth")):
        assert len(list(locks.iterdir())) == 1
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.3)  # the waiter is blocked on the same file
        order.append("first releases")
    thread.join(10)
    assert order == ["first releases", "waiter holds 1 lock file"]
    assert list(locks.iterdir()) == []
