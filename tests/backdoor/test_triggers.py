"""Trigger functions: exact pixels for patches and blends, WaNet's warp, dict round trips, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from securitynet.zoo.trojan.poison import PoisonSpec
from securitynet.zoo.trojan.triggers import (
    BlendedTrigger,
    PatchTrigger,
    TriggerError,
    WaNetTrigger,
    apply_trigger,
    sample_trigger,
    trigger_from_dict,
)


@pytest.fixture
def grey() -> np.ndarray:
    images = np.random.default_rng(0).integers(0, 200, size=(6, 28, 28), dtype=np.uint8)
    images.setflags(write=False)  # like arrays from the shared data cache
    return images


@pytest.fixture
def colour() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)


def test_public_badnet_card_trigger_stamps_a_white_square_in_the_corner(grey: np.ndarray) -> None:
    card_trigger = {"kind": "patch", "size": 5, "position": "bottom-right", "value": 255,
                    "image": "badnet_verazuo_trigger_white.png", "image_sha256": "4b78"}
    out = apply_trigger(grey, card_trigger)
    assert out.dtype == np.uint8 and out.shape == grey.shape
    assert (out[:, -5:, -5:] == 255).all()
    untouched = np.ones((28, 28), bool)
    untouched[-5:, -5:] = False
    np.testing.assert_array_equal(out[:, untouched], grey[:, untouched])
    assert not (grey[:, -5:, -5:] == 255).all()  # the input was not changed in place


def test_patch_positions_patterns_and_colour(colour: np.ndarray) -> None:
    top_left = PatchTrigger(size=3, position="top-left", margin=2).apply(colour)
    assert (top_left[:, 2:5, 2:5] == 255).all() and (top_left[:, :2] == colour[:, :2]).all()
    explicit = PatchTrigger(size=4, position=(10, 20), pattern="checkerboard").apply(colour)
    patch = explicit[0, 10:14, 20:24, 0]
    assert patch[0, 0] == 255 and patch[0, 1] == 0 and patch[1, 0] == 0 and patch[1, 1] == 255
    random_a = PatchTrigger(size=4, pattern="random", pattern_seed=7).pixels(3)
    random_b = PatchTrigger(size=4, pattern="random", pattern_seed=7).pixels(3)
    np.testing.assert_array_equal(random_a, random_b)
    assert set(np.unique(random_a)) <= {0, 255} and random_a.shape == (4, 4, 3)
    mask = PatchTrigger(size=4, position=(10, 20)).mask(32, 32)
    assert mask.sum() == 16 and mask[10:14, 20:24].all()


def test_blended_trigger_is_the_convex_mix_with_fixed_noise(grey: np.ndarray) -> None:
    trigger = BlendedTrigger(alpha=0.2, pattern_seed=3)
    out = trigger.apply(grey)
    noise = trigger.noise(grey.shape[1:])
    expected = np.clip(np.rint(0.8 * grey.astype(np.float32) + 0.2 * noise), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(BlendedTrigger(alpha=0.2, pattern_seed=3).apply(grey), out)
    assert not np.array_equal(BlendedTrigger(alpha=0.2, pattern_seed=4).apply(grey), out)


def test_wanet_warp_moves_pixels_smoothly_and_deterministically(grey: np.ndarray, colour: np.ndarray) -> None:
    trigger = WaNetTrigger(k=4, s=3.0, field_seed=5)
    out = trigger.apply(grey)
    np.testing.assert_array_equal(out, WaNetTrigger(k=4, s=3.0, field_seed=5).apply(grey))
    assert np.abs(out.astype(int) - grey).mean() > 1  # visibly warped
    # The identity warp (no offsets) reproduces the image: sampling the pixel grid exactly.
    identity = trigger.grid(28, 28)
    assert identity.shape == (1, 28, 28, 2) and float(identity.abs().max()) <= 1
    weak = WaNetTrigger(k=4, s=1e-6, field_seed=5).apply(grey)
    np.testing.assert_array_equal(weak, grey)
    assert trigger.apply(colour).shape == colour.shape
    jittered = trigger.noise_warp(grey, np.random.default_rng(0))
    assert jittered.shape == grey.shape and not np.array_equal(jittered, out)


@pytest.mark.parametrize("kind", ["badnets", "blended", "wanet"])
def test_sampled_triggers_round_trip_through_their_dicts(kind: str, colour: np.ndarray) -> None:
    trigger = sample_trigger(kind, (32, 32), np.random.default_rng(2))
    rebuilt = trigger_from_dict(trigger.to_dict())
    assert rebuilt == trigger
    np.testing.assert_array_equal(rebuilt.apply(colour), trigger.apply(colour))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"kind": "patch", "size": 0}, "size must be a positive int"),
        ({"kind": "patch", "position": "middle"}, "position must be one of"),
        ({"kind": "patch", "pattern": "random"}, "needs pattern_seed"),
        ({"kind": "patch", "colour": 3}, "unknown fields"),
        ({"kind": "blended", "alpha": 1.5}, "alpha must be in"),
        ({"kind": "wanet", "k": 1}, "k must be an int >= 2"),
        ({"kind": "sticker"}, "unknown trigger kind"),
        ({"size": 3}, "a mapping with a 'kind'"),
    ],
)
def test_malformed_triggers_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(TriggerError, match=message):
        trigger_from_dict(bad)


def test_patch_that_does_not_fit_and_wrong_images_are_refused(grey: np.ndarray) -> None:
    with pytest.raises(TriggerError, match="does not fit 28x28"):
        PatchTrigger(size=5, position=(25, 0)).apply(grey)
    with pytest.raises(TriggerError, match="uint8"):
        PatchTrigger().apply(grey.astype(np.float32))
    with pytest.raises(TriggerError, match="batch"):
        PatchTrigger().apply(grey[0])


def test_poisoning_relabels_the_chosen_share_and_records_it() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 100, size=(200, 12, 12), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 20)
    spec = PoisonSpec(attack="badnets", target_label=3, poison_rate=0.1, seed=4,
                      trigger={"kind": "patch", "size": 2, "position": "top-left"})
    poisoned_images, poisoned_labels, record = spec(images, labels, np.arange(1000, 1200))
    changed = np.flatnonzero(poisoned_labels != labels)
    assert len(changed) == 20 and record["n_poisoned"] == 20
    assert (labels[changed] != 3).all() and (poisoned_labels[changed] == 3).all()
    assert (poisoned_images[changed][:, :2, :2] == 255).all()
    assert record["poisoned_source_indices"] == (1000 + changed).tolist()
    again = spec(images, labels, np.arange(1000, 1200))
    np.testing.assert_array_equal(again[0], poisoned_images)  # deterministic
    wanet = PoisonSpec(attack="wanet", target_label=0, poison_rate=0.1, seed=1, noise_ratio=1.0,
                       trigger={"kind": "wanet", "s": 3.0, "field_seed": 2})
    _, wanet_labels, wanet_record = wanet(images, labels, np.arange(200))
    assert wanet_record["n_noise_mode"] == 20 and (wanet_labels != labels).sum() == 20
    with pytest.raises(TriggerError, match="uses patch triggers"):
        PoisonSpec(attack="badnets", target_label=0, poison_rate=0.1, seed=0, trigger={"kind": "blended"})
