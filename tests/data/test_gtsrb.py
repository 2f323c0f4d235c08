"""GTSRB: track groups, splits that never separate frames of one sign, torchvision's folder layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from securitynet.data import DatasetError, disjoint_subsets, load_split, sample_membership


@pytest.fixture(scope="module")
def gtsrb_train(shared_data: Path):
    return load_split("gtsrb", "train", roots=[shared_data])


def test_official_splits_and_sign_groups(gtsrb_train, shared_data: Path) -> None:
    assert gtsrb_train.images.shape == (39_209, 32, 32, 3) and gtsrb_train.images.dtype == np.uint8
    assert set(np.unique(gtsrb_train.labels)) == set(range(43))
    # A group is one (label, track): the group id determines the label.
    assert np.all(gtsrb_train.groups // 1000 == gtsrb_train.labels)
    assert len(np.unique(gtsrb_train.groups)) > 1000
    test = load_split("gtsrb", "test", roots=[shared_data])
    assert len(test) == 12_630 and test.groups is None


def test_same_split_membership_never_straddles_a_sign(gtsrb_train, shared_data: Path) -> None:
    sample = sample_membership("gtsrb", 2_000, seed=3, member_split="train", nonmember_split="train",
                               roots=[shared_data])
    assert len(sample.members) == len(sample.nonmembers) == 2_000
    assert not set(sample.members.groups) & set(sample.nonmembers.groups)
    assert not set(sample.members.indices) & set(sample.nonmembers.indices)
    assert sample.description["by_group"] is True
    # Group ids of the sample agree with the source split at the recorded indices.
    np.testing.assert_array_equal(sample.members.groups, gtsrb_train.groups[sample.members.indices])


def test_excluding_an_image_removes_its_whole_sign(gtsrb_train, shared_data: Path) -> None:
    query = gtsrb_train.subset(np.arange(0, 39_209, 97))
    sample = sample_membership("gtsrb", 1_000, seed=0, member_split="train", nonmember_split="train",
                               exclude=query, roots=[shared_data])
    tainted = set(query.groups)
    assert not tainted & set(sample.members.groups) and not tainted & set(sample.nonmembers.groups)
    assert sample.description["usable"]["train_excluded_groups"] == len(tainted)


def test_disjoint_pools_keep_groups_whole(gtsrb_train) -> None:
    pools = disjoint_subsets(gtsrb_train, [3_000, 3_000, None], seed=5)
    assert [len(p) for p in pools[:2]] == [3_000, 3_000]
    seen: set[int] = set()
    for pool in pools:
        groups = set(pool.groups)
        assert not groups & seen
        seen |= groups
    assert sum(len(p) for p in pools) <= len(gtsrb_train)


def test_members_from_train_and_non_members_from_the_official_test_set(shared_data: Path) -> None:
    sample = sample_membership("gtsrb", 300, seed=1, roots=[shared_data])
    assert (sample.members.split, sample.nonmembers.split) == ("train", "test")
    assert len(sample.members) == len(sample.nonmembers) == 300


def test_torchvision_layout_is_decoded_with_tracks(tmp_path: Path, variant, isolated_cache: Path) -> None:
    training = tmp_path / "gtsrb" / "GTSRB" / "Training"
    rng = np.random.default_rng(0)
    for label, tracks in ((0, (0, 1)), (5, (0,))):
        folder = training / f"{label:05d}"
        folder.mkdir(parents=True)
        for track in tracks:
            for frame in range(3):
                pixels = rng.integers(0, 256, size=(40 + frame, 45, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{track:05d}_{frame:05d}.ppm")
    variant("gtsrb", "gtsrb_fixture", split_sizes=None)
    train = load_split("gtsrb_fixture", "train", roots=[tmp_path])
    assert train.images.shape == (9, 32, 32, 3)
    assert train.labels.tolist() == [0] * 6 + [5] * 3
    assert train.groups.tolist() == [0, 0, 0, 1, 1, 1, 5000, 5000, 5000]
    assert any(isolated_cache.rglob("*.npy"))
    again = load_split("gtsrb_fixture", "train", roots=[tmp_path])
    np.testing.assert_array_equal(again.images, train.images)


def test_training_file_without_tracks_is_refused(tmp_path: Path, variant) -> None:
    folder = tmp_path / "gtsrb"
    folder.mkdir()
    np.savez(folder / "gtsrb_train_32x32.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.zeros(4, np.int64))
    variant("gtsrb", "gtsrb_fixture", split_sizes=None)
    with pytest.raises(DatasetError, match="track"):
        load_split("gtsrb_fixture", "train", roots=[tmp_path])
