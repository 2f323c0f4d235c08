"""securitynet.files: a write either lands whole or leaves the old file, and never a temporary file behind."""

from __future__ import annotations

import pytest

from securitynet import files
from securitynet.files import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text


def test_a_failed_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "models" / "atomic" / "w.safetensors"
    atomic_write_bytes(target, b"first version")  # the folders are created

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"second version that never lands")
    assert target.read_bytes() == b"first version"
    assert sorted(p.name for p in target.parent.iterdir()) == ["w.safetensors"]


def test_a_writer_that_fails_halfway_leaves_nothing_of_its_own(tmp_path):
    target = tmp_path / "record.json"
    atomic_write_text(target, "old")

    def half(handle):
        handle.write(b"{\"half\": ")
        raise ValueError("the writer broke")

    with pytest.raises(ValueError, match="writer broke"):
        atomic_write(target, half)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_atomic_path_renames_what_was_written_to_its_name(tmp_path):
    target = tmp_path / "array.npy"
    with atomic_path(target, suffix=".npy.part") as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".npy.part") and temporary != target
        assert not target.exists()
        temporary.write_bytes(b"complete")
    assert target.read_bytes() == b"complete" and not temporary.exists()

    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"complete" and sorted(tmp_path.iterdir()) == [target]
