"""Posterior cache: one forward pass per (model, split), reused from memory and disk, never from a stale file."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from securitynet.catalog.card import InputSpec, ModelCard
from securitynet.engine.cache import PosteriorCache, model_fingerprint, split_key
from securitynet.engine.inference import BatchedPredictor
from securitynet.zoo.target import TargetModel


def _target(seed: int = 0, weight_hash: str | None = "sha256:" + "ab" * 32) -> tuple[TargetModel, list[int]]:
    """A TinyNet target and a list that counts the images its module has seen."""
    from securitynet_test_models import TinyNet

    torch.manual_seed(seed)
    module = TinyNet()
    seen: list[int] = []
    module.register_forward_hook(lambda _m, inputs, _out: seen.append(len(inputs[0])))
    card = ModelCard(id="cache/tiny", name="tiny", source="file", dataset="digits", num_classes=10,
                     input=InputSpec(channels=1, size=(8, 8)))
    target = TargetModel(card=card, module=module, weight_hash=weight_hash, device=torch.device("cpu"))
    seen.clear()  # the probe on construction (does the card's input size run at all?) is no posterior request
    return target, seen


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(300, 8, 8), dtype=np.uint8)


def test_second_request_does_no_forward_pass(tmp_path, images) -> None:
    target, seen = _target()
    cache = PosteriorCache(tmp_path)
    first = cache.get(target, images)
    assert sum(seen) == 300
    second = cache.get(target, images)
    assert sum(seen) == 300 and second is first
    assert cache.stats.memory_hits == 1 and cache.stats.misses == 1
    np.testing.assert_allclose(first, target.predict_proba(images), rtol=0, atol=1e-6)
    assert not first.flags.writeable  # an attack cannot change what the next attack reads
    with pytest.raises(ValueError):
        first[0, 0] = 1.0


def test_later_run_reads_disk_and_a_new_split_is_computed(tmp_path, images) -> None:
    target, seen = _target()
    PosteriorCache(tmp_path).get(target, images)
    fresh = PosteriorCache(tmp_path)  # a later run: empty memory, same folder
    probs = fresh.get(target, images)
    assert sum(seen) == 300 and fresh.stats.disk_hits == 1
    assert probs.shape == (300, 10) and probs.dtype == np.float32
    other = images.copy()
    other[0, 0, 0] ^= 1  # one pixel differs: a different split, not a cache hit
    fresh.get(target, other)
    assert sum(seen) == 600
    files = sorted(p.name for p in tmp_path.rglob("*.npy"))
    assert len(files) == 2 and not list(tmp_path.rglob("*.tmp"))


def test_corrupt_or_mismatched_cache_file_is_recomputed(tmp_path, images) -> None:
    target, seen = _target()
    PosteriorCache(tmp_path).get(target, images)
    (path,) = tmp_path.rglob("*.npy")
    path.write_bytes(path.read_bytes()[:100])  # truncated, e.g. by a full disk
    probs = PosteriorCache(tmp_path).get(target, images)
    assert sum(seen) == 600 and probs.shape == (300, 10)
    assert np.load(path).shape == (300, 10)  # rewritten whole


def test_weights_without_hash_are_not_cached_across_runs(tmp_path, images) -> None:
    target, seen = _target(weight_hash=None)
    cache = PosteriorCache(tmp_path)
    cache.get(target, images)
    cache.get(target, images)
    assert sum(seen) == 300  # still reused within the run
    assert not list(tmp_path.rglob("*.npy"))
    other_model, other_seen = _target(seed=1, weight_hash=None)
    cache.get(other_model, images)  # another unhashed model never gets the first one's posteriors
    assert sum(other_seen) == 300


def test_model_fingerprint_covers_preprocessing() -> None:
    target, _ = _target()
    card = target.card
    changed = card.model_copy(update={"input": InputSpec(channels=1, size=(8, 8), mean=(0.5,), std=(0.5,))})
    assert model_fingerprint(card, "sha256:x") != model_fingerprint(changed, "sha256:x")
    assert model_fingerprint(card, "sha256:x") != model_fingerprint(card, "sha256:y")
    assert model_fingerprint(card, None) is None


def test_split_key_names_dataset_split_and_content(images) -> None:
    from securitynet.data import ArraySplit

    split = ArraySplit(images=images, labels=np.zeros(300, dtype=np.int64), dataset="digits", split="test",
                       indices=np.arange(300))
    shifted = ArraySplit(images=images, labels=np.zeros(300, dtype=np.int64), dataset="digits", split="test",
                         indices=np.arange(300) + 1)
    key = split_key(split)
    assert (key.dataset, key.split, key.n) == ("digits", "test", 300)
    assert key.fingerprint != split_key(shifted).fingerprint
    assert key.fingerprint != split_key(images).fingerprint


def test_batch_size_halves_on_out_of_memory(images) -> None:
    target, _ = _target()
    module = target.module
    real_forward = module.forward
    sizes: list[int] = []

    def flaky(x):
        sizes.append(len(x))
        if len(x) > 70:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(x)

    module.forward = flaky
    predictor = BatchedPredictor(target, batch_size=256)
    probs = predictor(images)
    assert predictor.batch_size == 64 and sizes[:3] == [256, 128, 64]
    module.forward = real_forward
    np.testing.assert_allclose(probs, target.predict_proba(images), atol=1e-6)

    def broken(x):
        raise ValueError("bad input")

    module.forward = broken
    with pytest.raises(ValueError, match="bad input"):  # any other error is not retried
        BatchedPredictor(target, batch_size=8)(images)


class _ViewNet(torch.nn.Module):
    """A colour CNN that flattens with .view: it cannot take channels-last activations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).view(len(x), -1))


@pytest.mark.parametrize("module_cls", [_ViewNet, None])
def test_channels_last_is_used_when_the_model_takes_it(module_cls) -> None:
    """The target probes the layout once; batches go in that layout and give the usual posteriors."""
    torch.manual_seed(0)
    if module_cls is None:  # flattens with reshape: channels-last works
        module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(256, 5))
    else:
        module = module_cls()
    reference = copy.deepcopy(module).eval()
    card = ModelCard(id="cache/colour", name="colour", source="file", dataset="gtsrb", num_classes=5,
                     input=InputSpec(channels=3, size=(8, 8), mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2)))
    target = TargetModel(card=card, module=module, weight_hash="sha256:x", device=torch.device("cpu"))
    assert target.channels_last is (module_cls is None)
    first_conv = next(m for m in target.module.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last) is (module_cls is None)
    images = np.random.default_rng(1).integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    predictor = BatchedPredictor(target, batch_size=16)
    probs = predictor(images)
    assert predictor.forward_batches == 4
    with torch.no_grad():
        expected = torch.softmax(reference(target.preprocess(images)), dim=1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_allclose(target.predict_proba(images), expected, atol=1e-6)


def test_wrong_output_shape_is_refused(images) -> None:
    from securitynet.errors import ShapeError

    target, _ = _target()
    target.card.num_classes = 12
    expected = r"cache/tiny: output width is not the card's num_classes \(10 columns, num_classes 12\)"
    with pytest.raises(ShapeError, match=expected):
        PosteriorCache(disk=False).get(target, images)
