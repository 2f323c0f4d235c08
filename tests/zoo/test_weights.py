"""Verification, safe archive extraction and safe loading of weight files (all fixtures generated in tmp_path)."""

from __future__ import annotations

import argparse
import csv
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from securitynet.catalog.card import ModelCard, WeightsSpec
from securitynet.errors import ChecksumError, UnsafeWeightsError, WeightsError
from securitynet.zoo.archives import extract_all, extract_member, list_members
from securitynet.zoo.weights import (
    card_cache_dir,
    fetch_weights,
    load_state_dict_file,
    local_filename,
    sha256_file,
    verify_file,
    weight_filename,
)


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "conv.weight": torch.randn(4, 1, 3, 3, generator=generator),
        "conv.bias": torch.randn(4, generator=generator),
        "bn.num_batches_tracked": torch.tensor(7),
    }


def assert_same_state(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == expected.keys()
    for key in expected:
        assert torch.equal(loaded[key], expected[key])


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


# --- verification --------------------------------------------------------------------------------------


def test_verify_file_names_file_expected_and_actual(tmp_path: Path):
    path = tmp_path / "w.pt"
    torch.save(small_state(), path)
    actual = sha256_file(path)
    assert verify_file(path, WeightsSpec(sha256=actual.upper()), what="weights of x/y") == actual
    expected = "ab" * 32
    with pytest.raises(ChecksumError) as info:
        verify_file(path, WeightsSpec(sha256=expected), what="weights of x/y")
    assert str(path) in str(info.value) and expected in str(info.value) and actual in str(info.value)
    with pytest.raises(ChecksumError, match="sha1"):
        verify_file(path, WeightsSpec(source_hash="0" * 40, source_hash_algo="SHA-1"), what="weights of x/y")
    with pytest.raises(WeightsError, match="unknown hash algorithm"):
        verify_file(path, WeightsSpec(source_hash="00", source_hash_algo="crc99"), what="weights of x/y")


def test_public_mnist_weights_verify_against_the_manifest(shared_data: Path):
    manifest = {}
    with open(shared_data / "MANIFEST.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            manifest[row["file"]] = row["sha256"]
    weights = sorted(p for p in (shared_data / "models" / "mnist").iterdir() if p.suffix in (".pt", ".pth"))
    assert len(weights) == 5
    for path in weights:
        expected = manifest[f"models/mnist/{path.name}"]
        assert verify_file(path, WeightsSpec(sha256=expected), what=path.name) == expected
        with pytest.raises(ChecksumError):
            verify_file(path, WeightsSpec(sha256=expected[::-1]), what=path.name)


def test_file_names_cannot_climb_out_of_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(WeightsError, match="not a plain file name"):
        weight_filename(WeightsSpec(filename="../../etc/passwd"))
    with pytest.raises(WeightsError, match="not a plain file name"):
        local_filename(WeightsSpec(urls=["https://x/a.zip"], format="zip", archive_member="sub/.."))
    pytorchcv_zip = WeightsSpec(urls=["https://x/r-0597-9b0024ac.pth.zip"], format="zip")
    assert local_filename(pytorchcv_zip) == "r-0597-9b0024ac.pth"
    assert weight_filename(WeightsSpec(urls=["https://zenodo.org/records/1/files/w.zip?download=1"])) == "w.zip"
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    card = ModelCard(id="evil/../../x", name="x", source="file", dataset="mnist")
    assert (tmp_path / "cache" / "weights") in card_cache_dir(card).resolve().parents


def test_cached_file_that_no_longer_verifies_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SECURITYNET_MIRROR", raising=False)
    path = tmp_path / "w.pt"
    torch.save(small_state(), path)
    card = ModelCard(id="t/m", name="m", source="file", dataset="mnist",
                     weights=WeightsSpec(filename="w.pt", sha256=sha256_file(path)))
    cached = card_cache_dir(card) / "w.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"bit rot")
    with pytest.raises(ChecksumError, match="cache"):
        fetch_weights(card, offline=True, progress=False)
    assert not cached.exists()
    assert fetch_weights(card, offline=True, progress=False, mirrors=[tmp_path]) == path


# --- archives ----------------------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # S_IFLNK: how zip tools store a symbolic link
            zf.writestr(info, target)
    return path


def make_tar(path: Path, members: dict[str, bytes], links: list[tuple[str, str, bytes]] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target, kind in links:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info)
    return path


@pytest.mark.parametrize(
    "bad_member",
    ["../evil.txt", "sub/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt", "C:/evil.txt"],
)
def test_zip_member_escaping_the_folder_is_refused(tmp_path: Path, bad_member: str):
    archive = make_zip(tmp_path / "a.zip", {"model.pth": b"weights", bad_member: b"owned"})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeWeightsError) as info:
        extract_member(archive, "model.pth", out / "model.pth")
    assert "a.zip" in str(info.value) and repr(bad_member) in str(info.value)
    with pytest.raises(UnsafeWeightsError):
        extract_all(archive, out)
    assert all_files(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]


def test_tar_links_pointing_outside_are_refused(tmp_path: Path):
    cases = {
        "abs_symlink": [("model.pth", "/etc/passwd", tarfile.SYMTYPE)],
        "rel_symlink": [("sub/model.pth", "../../secret", tarfile.SYMTYPE)],
        "hardlink": [("model.pth", "../outside", tarfile.LNKTYPE)],
        "abs_hardlink": [("model.pth", "/etc/shadow", tarfile.LNKTYPE)],
    }
    for case, links in cases.items():
        archive = make_tar(tmp_path / f"{case}.tar.gz", {"readme.txt": b"hi"}, links)
        out = tmp_path / f"out_{case}"
        with pytest.raises(UnsafeWeightsError) as info:
            extract_member(archive, links[0][0], out / "model.pth")
        assert links[0][0] in str(info.value) and archive.name in str(info.value)
        with pytest.raises(UnsafeWeightsError):
            extract_all(archive, out)
        assert not out.exists() or all_files(out) == []


def test_zip_symlink_member_pointing_outside_is_refused(tmp_path: Path):
    archive = make_zip(tmp_path / "s.zip", {"readme.txt": b"x"}, symlinks={"model.pth": "/etc/passwd"})
    with pytest.raises(UnsafeWeightsError, match="model.pth"):
        extract_member(archive, "model.pth", tmp_path / "model.pth")
    assert not (tmp_path / "model.pth").exists()


def test_tar_with_a_device_member_is_refused(tmp_path: Path):
    path = tmp_path / "dev.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("null")
        info.type = tarfile.CHRTYPE
        tf.addfile(info)
    with pytest.raises(UnsafeWeightsError, match="special file"):
        list_members(path)


def test_only_the_needed_member_is_extracted_and_internal_links_become_copies(tmp_path: Path):
    payload = b"the weights"
    archive = make_tar(
        tmp_path / "ok.tar.gz",
        {"release/model.pth": payload, "release/other.pth": b"other"},
        [("release/latest.pth", "model.pth", tarfile.SYMTYPE)],
    )
    dest = tmp_path / "cache" / "model.pth"
    assert extract_member(archive, "./release/model.pth", dest) == dest
    assert dest.read_bytes() == payload and all_files(tmp_path / "cache") == [dest]
    linked = extract_member(archive, "release/latest.pth", tmp_path / "latest.pth")
    assert linked.read_bytes() == payload and not linked.is_symlink()

    written = extract_all(archive, tmp_path / "all")
    assert sorted(p.relative_to(tmp_path / "all").as_posix() for p in written) == [
        "release/latest.pth", "release/model.pth", "release/other.pth"]
    assert not any(p.is_symlink() for p in written)
    assert not [p for p in (tmp_path / "all").iterdir() if p.name.startswith(".extracting")]


def test_archive_member_errors_name_what_is_there(tmp_path: Path):
    archive = make_zip(tmp_path / "two.zip", {"a.pth": b"a", "b.pth": b"b"})
    with pytest.raises(WeightsError, match="no member 'c.pth'.*a.pth"):
        extract_member(archive, "c.pth", tmp_path / "c.pth")
    with pytest.raises(WeightsError, match="holds 2 files.*archive_member"):
        extract_member(archive, None, tmp_path / "x.pth")
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(WeightsError, match="cut.zip"):
        extract_member(truncated, "a.pth", tmp_path / "a.pth")
    assert not (tmp_path / "a.pth").exists()


def test_symlinked_zip_member_in_a_mirror_archive_is_refused_by_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SECURITYNET_CACHE", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "m.pth.zip", {"readme.txt": b"x"}, symlinks={"m.pth": "../../../etc/passwd"})
    card = ModelCard(id="t/m", name="m", source="file", dataset="mnist",
                     weights=WeightsSpec(filename="m.pth.zip", format="zip", archive_member="m.pth"))
    with pytest.raises(UnsafeWeightsError, match="m.pth"):
        fetch_weights(card, offline=True, progress=False, mirrors=[mirror])
    weights = tmp_path / "cache" / "weights"
    assert not weights.exists() or all_files(weights) == []
    assert not (tmp_path / "etc").exists()
    assert (mirror / "m.pth.zip").exists()  # a mirror is never modified


# --- safe loading ---------------------------------------------------------------------------------------------


class _RunsCode:
    """Unpickling this calls os.system: the classic malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("layout", ["torch_zip", "torch_legacy", "raw_pickle"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path, layout: str):
    marker = tmp_path / "PWNED"
    payload = {"conv.weight": torch.zeros(1), "boom": _RunsCode(marker)}
    path = tmp_path / "evil.pt"
    if layout == "torch_zip":
        torch.save(payload, path)
    elif layout == "torch_legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(UnsafeWeightsError) as info:
        load_state_dict_file(path)
    assert str(path) in str(info.value) and "system" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("layout", ["torch_zip", "torch_legacy"])
def test_truncated_file_gives_a_clear_weights_error(tmp_path: Path, layout: str):
    full = tmp_path / "full.pt"
    torch.save(small_state(), full, _use_new_zipfile_serialization=(layout == "torch_zip"))
    data = full.read_bytes()
    for keep in (len(data) // 2, 300, 20, 0):
        cut = tmp_path / f"cut_{keep}.pt"
        cut.write_bytes(data[:keep])
        with pytest.raises(WeightsError) as info:
            load_state_dict_file(cut)
        assert not isinstance(info.value, UnsafeWeightsError), str(info.value)
        assert str(cut) in str(info.value)


def test_robustness_style_checkpoint_inner_key_and_prefix(tmp_path: Path):
    # "Do Adversarially Robust ImageNet Models Transfer Better?" checkpoints: {'model': state of an
    # AttackerModel wrapping the torchvision net as module.model, plus normaliser and attacker copies}.
    state = small_state()
    wrapped = {f"module.model.{k}": v for k, v in state.items()}
    wrapped |= {f"module.attacker.model.{k}": v for k, v in state.items()}
    wrapped |= {"module.normalizer.new_mean": torch.zeros(3, 1, 1), "module.normalizer.new_std": torch.ones(3, 1, 1)}
    path = tmp_path / "imagenet_l2_3_0.ckpt"
    torch.save({"model": wrapped, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}, "epoch": 90}, path)
    loaded = load_state_dict_file(path, WeightsSpec(inner_key="model", key_prefix="module.model."))
    assert_same_state(loaded, state)
    with pytest.raises(WeightsError, match="no key 'net'"):
        load_state_dict_file(path, WeightsSpec(inner_key="net"))
    with pytest.raises(WeightsError, match="starts with 'backbone.'"):
        load_state_dict_file(path, WeightsSpec(inner_key="model", key_prefix="backbone."))


def test_nested_state_dict_with_metadata_loads(tmp_path: Path):
    state = small_state()
    path = tmp_path / "ckpt.pth"
    metadata = {"epoch": 3, "best_acc": np.float64(0.91), "args": argparse.Namespace(lr=0.1, arch="resnet18"),
                "history": np.arange(4), "note": "plain text"}
    torch.save({"state_dict": state, **metadata}, path)
    assert_same_state(load_state_dict_file(path), state)  # found without an inner_key
    deep = tmp_path / "deep.pth"
    torch.save({"checkpoint": {"net": state}, "epoch": 1}, deep)
    assert_same_state(load_state_dict_file(deep, WeightsSpec(inner_key="checkpoint.net")), state)

    ambiguous = tmp_path / "two.pth"
    torch.save({"model": state, "ema": small_state(1)}, ambiguous)
    assert_same_state(load_state_dict_file(ambiguous), state)  # "model" is a known name, "ema" is not
    both = tmp_path / "both.pth"
    torch.save({"student": state, "teacher": small_state(1)}, both)
    with pytest.raises(WeightsError, match="several state dicts.*inner_key"):
        load_state_dict_file(both)
    mixed = tmp_path / "mixed.pth"
    torch.save({"conv.weight": torch.zeros(1), "epoch": 5}, mixed)
    with pytest.raises(WeightsError, match="non-tensor entries"):
        load_state_dict_file(mixed)


def test_safetensors_loads_and_a_truncated_one_is_a_clear_error(tmp_path: Path):
    state = {k: v for k, v in small_state().items()}
    path = tmp_path / "model.bin"  # detected by content, not by name
    save_file(state, str(path))
    assert_same_state(load_state_dict_file(path), state)
    assert_same_state(load_state_dict_file(path, WeightsSpec(format="safetensors")), state)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(WeightsError, match="cut.safetensors"):
        load_state_dict_file(cut)


def test_public_mnist_weights_load_safely(shared_data: Path):
    path = shared_data / "models" / "mnist" / "mnistnet_shrinkbench.pt"  # saved from a GPU
    state = load_state_dict_file(path)
    assert {"conv1.weight", "fc2.bias"} <= set(state) and state["conv1.weight"].device.type == "cpu"


def test_extract_all_is_all_or_nothing_when_a_member_is_corrupt(tmp_path: Path):
    archive = make_zip(tmp_path / "crc.zip", {"a.pth": b"A" * 1000, "b.pth": b"B" * 1000})
    raw = bytearray(archive.read_bytes())
    position = raw.rfind(b"B" * 100)  # stored (uncompressed): flip one byte of b.pth's data
    raw[position] ^= 0xFF
    archive.write_bytes(bytes(raw))
    out = tmp_path / "out"
    with pytest.raises(WeightsError, match="b.pth"):
        extract_all(archive, out)
    assert all_files(out) == [] and list(out.iterdir()) == []
