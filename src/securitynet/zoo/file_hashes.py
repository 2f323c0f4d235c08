"""File hashes: one read of a file for every digest it is checked against.

Its own module because both the weight fetcher (`zoo.weights`) and the Hub fetcher (`zoo.hub_weights`), which the
weight fetcher calls, hash files: neither should import the other for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def file_digests(path: str | Path, algorithms: Iterable[str], chunk_size: int = 1 << 20) -> dict[str, str]:
    """Hex digests of a file for several algorithms, in one read."""
    digests = {algo: hashlib.new(algo) for algo in algorithms}
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            for digest in digests.values():
                digest.update(chunk)
    return {algo: digest.hexdigest() for algo, digest in digests.items()}


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    return file_digests(path, ["sha256"], chunk_size)["sha256"]
