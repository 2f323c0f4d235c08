"""Per-job seeds: the same job draws the same random numbers on every executor and every rerun."""

from __future__ import annotations

import random

import numpy as np
import torch

from securitynet.seeds import derive_seed

__all__ = ["derive_seed", "seed_everything"]


def seed_everything(seed: int) -> tuple[np.random.Generator, torch.Generator]:
    """Seed python, numpy's legacy global state and torch's global generators; return fresh generators.

    Attacks should draw from the returned generators; the global seeding covers library code that
    uses global state (weight initialisation, dropout) so it is reproducible too.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed), torch.Generator().manual_seed(seed)
