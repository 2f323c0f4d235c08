"""Finding one card by id: the one lookup (builds the one source its id prefix names) vs building the whole
built-in catalog first (what every lookup did before, ~2,500 cards: timm's and MedMNIST's imports included).

Each side runs in a fresh Python process (imports and caches count, as on `securitynet.load`); the CPU seconds
of the child are compared, fastest of three interleaved passes. Run: `.venv/bin/python benchmarks/catalog_lookup.py`.
"""

from __future__ import annotations

import resource
import subprocess
import sys

CARD_IDS = ("pytorchcv/resnet20_cifar10", "file/lenet5_advertorch_clean", "robustbench/cifar10/Linf/Standard")
OURS = "from securitynet.catalog.builtin import find_card\nfor i in {ids!r}: find_card(i)"
BASELINE = ("from securitynet.catalog.builtin import load_builtin_catalog\n"
            "cards = {{c.id: c for c in load_builtin_catalog().cards}}\nfor i in {ids!r}: cards[i]")
QUERY = "from securitynet.catalog.query import select_cards\nselect_cards('file/*')"
QUERY_BASELINE = ("from securitynet.catalog.builtin import load_builtin_catalog\n"
                  "from securitynet.catalog.query import filter_cards\n"
                  "filter_cards(load_builtin_catalog().cards, 'file/*')")


def cpu_seconds(code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(name: str, ours: str, baseline: str, passes: int = 3) -> None:
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(passes):
        times["ours"].append(cpu_seconds(ours))
        times["baseline"].append(cpu_seconds(baseline))
    fast, slow = min(times["ours"]), min(times["baseline"])
    print(f"{name}: ours {fast:.2f} s CPU, whole catalog first {slow:.2f} s CPU, ratio {fast / slow:.2f}")


def main() -> None:
    compare(f"find_card x {len(CARD_IDS)} ({', '.join(CARD_IDS)})", OURS.format(ids=CARD_IDS),
            BASELINE.format(ids=CARD_IDS))
    compare("select_cards('file/*')", QUERY, QUERY_BASELINE)


if __name__ == "__main__":
    main()
