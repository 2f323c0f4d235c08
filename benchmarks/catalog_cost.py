"""What evaluating the whole built-in catalog costs: every card x every attack at its defaults, one seed.

Each card is sized (multiply-accumulates per image, `zoo/macs.py`; sizes are kept in a JSON file so a
second run is quick; `--sample N` sizes N seeded random cards per source and scales each source's mean to
its card count, since sizing all ~2,500 takes hours on 2 cores) and priced by the cost table
(`engine/costs.json`, from `benchmarks/costs.py`) the way
`securitynet evaluate --dry-run --cost` prices a plan. Prints the total on this machine and on clusters of
N such workers (models are the unit of parallelism), per source, for docs/scale.md.

    .venv/bin/python benchmarks/catalog_cost.py --sizes /tmp/catalog-macs.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKERS = (1, 8, 32, 128)


def card_sizes(cards: list[Any], path: Path | None) -> dict[str, int | None]:
    """Multiply-accumulates per image of every card, read from / added to ``path``."""
    from securitynet.engine.cost import _cached_macs
    from securitynet.progress import ProgressDisplay

    sizes: dict[str, int | None] = json.loads(path.read_text()) if path and path.is_file() else {}
    todo = [card for card in cards if card.id not in sizes]
    with ProgressDisplay(len(todo), "sizing cards", lines=False) as bar:
        for card in todo:
            bar.working_on(card.id)
            sizes[card.id] = _cached_macs(card)
            bar.finished(card.id)
            if path and len(sizes) % 50 == 0:
                path.write_text(json.dumps(sizes))
    if path:
        path.write_text(json.dumps(sizes))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=Path, help="JSON file of card sizes, read and extended")
    parser.add_argument("--sample", type=int, help="size only this many random cards per source (seeded)")
    parser.add_argument("--sized-only", action="store_true",
                        help="price only the cards --sizes already holds, each source scaled to its card count")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from securitynet.attacks import list_attacks
    from securitynet.catalog.builtin import load_builtin_catalog
    from securitynet.engine.cost import CostTable

    cards = load_builtin_catalog().cards
    by_source: dict[str, list[Any]] = defaultdict(list)
    for card in cards:
        by_source[card.id.split("/", 1)[0]].append(card)
    counts = {source: len(members) for source, members in by_source.items()}
    known = set(json.loads(args.sizes.read_text())) if args.sizes and args.sizes.is_file() else set()
    if args.sized_only:
        cards = [card for card in cards if card.id in known]
    elif args.sample:
        rng = random.Random(0)
        chosen = []
        for members in by_source.values():  # cards sized already count towards the sample
            sized = [card for card in members if card.id in known][:args.sample]
            rest = [card for card in members if card.id not in known]
            chosen += sized + rng.sample(rest, min(len(rest), args.sample - len(sized)))
        cards = chosen
    sizes = card_sizes(cards, args.sizes)
    table = CostTable.read()
    attacks = [cls.name for cls in list_attacks() if cls.__module__.startswith("securitynet.")]
    per_source: dict[str, float] = defaultdict(float)
    # (source, attack or "load", dataset) -> seconds of the priced cards, for the breakdowns below
    parts: dict[tuple[str, str, str], float] = defaultdict(float)
    once: dict[tuple[str, str], float] = {}  # (attack, dataset) -> its own caches, built by the first model
    for card in cards:
        macs, source = sizes.get(card.id), card.id.split("/", 1)[0]
        parts[(source, "load", card.dataset)] += table.load_seconds(macs)
        for attack in attacks:
            parts[(source, attack, card.dataset)] += table.attack_seconds(attack, macs) or 0.0
            once.setdefault((attack, card.dataset), table.attack_first_seconds(attack, macs))
    for (source, _, _), seconds in parts.items():
        per_source[source] += seconds
    unsized = sum(1 for card in cards if sizes.get(card.id) is None)
    print(f"{sum(counts.values())} cards ({len(cards)} priced) x {len(attacks)} attacks, default parameters, one seed "
          f"({unsized} cards not sizeable here, priced as the larger reference); cost table of "
          f"{table.measured.get('date')}")
    priced = defaultdict(int)
    for card in cards:
        priced[card.id.split("/", 1)[0]] += 1
    # A sampled source's total: its sample's mean per card times its number of cards.
    per_source = {source: seconds / priced[source] * counts[source] for source, seconds in per_source.items()}
    total = sum(per_source.values()) + sum(once.values())
    print(f"{'source':20s} {'cards':>6s} {'priced':>6s} {'hours':>8s}")
    for source, seconds in sorted(per_source.items(), key=lambda item: -item[1]):
        print(f"{source:20s} {counts[source]:6d} {priced[source]:6d} {seconds / 3600:8.1f}")
    print(f"{'caches, per dataset':20s} {len({d for _, d in once}):6d} {'':6s} {sum(once.values()) / 3600:8.1f}")
    print(f"{'total':20s} {sum(counts.values()):6d} {len(cards):6d} {total / 3600:8.1f}")
    by_attack: dict[str, float] = defaultdict(float)
    by_dataset: dict[str, float] = defaultdict(float)
    for (source, attack, dataset), seconds in parts.items():
        scaled = seconds / priced[source] * counts[source]
        by_attack[attack] += scaled
        by_dataset[dataset] += scaled
    for title, breakdown in (("attack", by_attack), ("dataset", by_dataset)):
        print(f"{title:26s} {'hours':>8s} {'share':>6s}")
        for name, seconds in sorted(breakdown.items(), key=lambda item: -item[1])[:12]:
            print(f"{name:26s} {seconds / 3600:8.1f} {seconds / total:6.1%}")
    for workers in WORKERS:
        print(f"on {workers:4d} worker(s) like this machine: {total / 3600 / workers:10.1f} hours")


if __name__ == "__main__":
    main()
