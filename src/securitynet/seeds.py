"""Seeds derived from names: the same parts give the same seed in every process, on every machine."""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object, bits: int = 63) -> int:
    """A ``bits``-bit seed (1 to 64) from any parts (base seed, job key, dataset, purpose): the top bits of
    the sha256 of the parts joined by a unit separator."""
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must lie in 1..64, got {bits}")
    blob = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") >> (64 - bits)
