"""Derived seeds: stable, sized, and one function for the engine (63 bits) and scikit-learn users (32)."""

from __future__ import annotations

import hashlib

import pytest

from securitynet.seeds import derive_seed


def test_a_derived_seed_is_the_top_bits_of_the_sha256_of_its_parts() -> None:
    digest = hashlib.sha256(b"3\x1fmnist\x1fmia-known").digest()
    assert derive_seed(3, "mnist", "mia-known") == int.from_bytes(digest[:8], "big") >> 1
    assert derive_seed(3, "mnist", "mia-known", bits=32) == int.from_bytes(digest[:4], "big")
    assert derive_seed(3, "mnist", "mia-known") != derive_seed(3, "mnist", "mia-population")
    assert all(0 <= derive_seed(i, "x", bits=32) < 2**32 for i in range(50))


def test_seed_sizes_outside_1_to_64_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="bits must lie in 1..64"):
        derive_seed(0, bits=65)
