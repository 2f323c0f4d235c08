"""Batched posterior extraction with a batch size that fits memory (halved on out-of-memory).

Each batch goes through `TargetModel.predict_proba` itself (the card's preprocessing, the module in the
layout the target chose for it, the card's output kind, the shape check); this adds what a long extraction
needs: a batch size chosen from the memory at hand, halved when a batch does not fit. On CPU the batch is
kept small, because cache-sized batches beat large ones: the 10,000 MNIST test images through the public
LeNet-5 took 0.94 s in batches of 64, 1.20 s in 256 and 1.44 s in 512; 4,096 CIFAR-sized images through
a WRN-16-4 took 19.4 s in batches of 64 and 21.8 s in 256 (ResNet-20: 3.3 s and 3.2 s).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from securitynet.zoo.target import TargetModel

# Peak inference memory of common image classifiers per sample, as a multiple of the float32 input:
# generous, so the first batch fits; an out-of-memory error halves it anyway.
_ACTIVATION_FACTOR = 128
_CPU_BUDGET_BYTES = 512 << 20
_CPU_MAX_BATCH = 64
_GPU_MAX_BATCH = 8192
_GPU_FREE_FRACTION = 0.6


def _input_bytes_per_sample(target: TargetModel) -> int:
    spec = target.card.input
    assert spec is not None  # TargetModel refuses a card without an input spec
    return 4 * spec.channels * math.prod(spec.size)


def initial_batch_size(target: TargetModel) -> int:
    """A first guess that fits: from free GPU memory on a GPU, from a fixed host budget on CPU."""
    per_sample = _input_bytes_per_sample(target) * _ACTIVATION_FACTOR
    device = torch.device(target.device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(max(1, min(_GPU_MAX_BATCH, free * _GPU_FREE_FRACTION // per_sample)))
    return int(max(1, min(_CPU_MAX_BATCH, _CPU_BUDGET_BYTES // per_sample)))


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class BatchedPredictor:
    """Posteriors of one target on uint8 images, chunk by chunk; remembers what fitted and what worked."""

    def __init__(self, target: TargetModel, batch_size: int | None = None) -> None:
        self.target = target
        self.batch_size = batch_size or initial_batch_size(target)
        self.forward_batches = 0  # how many batches went through the model (for tests and benchmarks)

    def _forward(self, images: np.ndarray) -> np.ndarray:
        """One batch through the target's own black box (its preprocessing, layout and shape check)."""
        return self.target.predict_proba(images, batch_size=len(images))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        n = len(images)
        if n == 0:
            return self.target.predict_proba(images[:0])
        out: np.ndarray | None = None
        start = 0
        while start < n:
            stop = min(n, start + self.batch_size)
            try:
                chunk = self._forward(images[start:stop])
            except Exception as exc:
                if not _is_out_of_memory(exc) or self.batch_size == 1:
                    raise
                self.batch_size = max(1, self.batch_size // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            self.forward_batches += 1
            if out is None:
                # Filled in place: no second full-size copy from concatenating chunks.
                out = np.empty((n, chunk.shape[1]), dtype=np.float32)
            out[start:stop] = chunk
            start = stop
        assert out is not None
        return out
