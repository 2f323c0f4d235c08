"""Target-architecture stealing at CIFAR scale, today's `stealing.knockoff` against an earlier one, in one run.

The baseline is ``attacks/stealing/knockoff.py`` as it stood at ``--baseline-rev`` (loaded from git history by
`history.py`). The target is a pytorchcv CIFAR-10 ResNet-20 trained briefly here (``--target-steps`` SGD steps
on the first 2,000 CIFAR-10 test images of ``../shared/data``: its labels are then no constant, which is all
the cost of stealing needs), attacked with the default parameters (surrogate: the target's architecture,
in-distribution queries, posterior answers, the budget curve) at ``--budget`` queries; queries and evaluation
images are carved from the CIFAR-10 test set (``query_split=test``), the only CIFAR-10 split held offline.
Each job starts from an empty posterior cache, as the first stealing job on a model does. Old and new jobs
alternate over ``--passes``; printed: wall time of each, the median ratio new / old, and both agreements
(target: ratio at most 0.5, agreement within 0.01).

    PYTHONPATH=src .venv/bin/python benchmarks/stealing_speed.py [--budget 5000] [--passes 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from history import module_at
from securitynet.attacks.stealing import knockoff as current

MODULE_PATH = "src/securitynet/attacks/stealing/knockoff.py"
BASELINE_REV = "de2a2cb"  # the last commit with stealing.knockoff's 87-line run


def briefly_trained_target(steps: int) -> Any:
    from pytorchcv.model_provider import get_model

    from securitynet.catalog.sources.pytorchcv import pytorchcv_card
    from securitynet.data import get_dataset, load_split
    from securitynet.zoo.target import TargetModel
    from securitynet.zoo.train import TrainRecipe, train_classifier

    card = pytorchcv_card("resnet20_cifar10")
    data = load_split(get_dataset("cifar10"), "test")
    torch.manual_seed(0)
    module = get_model("resnet20_cifar10", pretrained=False)
    train_classifier(module, data.images[:2000], data.labels[:2000], input_spec=card.input,
                     recipe=TrainRecipe(epochs=None, steps=steps, batch_size=64, lr=0.05, seed=0), device="cpu")
    return TargetModel(card=card, module=module.eval(), weight_hash=f"benchmark-trained-{steps}-steps")


def steal(attack_cls: type, target: Any, budget: int) -> dict[str, float]:
    from securitynet.engine.access import view_for
    from securitynet.engine.cache import PosteriorCache
    from securitynet.engine.context import JobContext

    with tempfile.TemporaryDirectory() as tmp:
        ctx = JobContext.standalone(target.card, seed=0, access="posterior", device="cpu",
                                    cache=PosteriorCache(Path(tmp) / "cache"), artifacts_root=Path(tmp))
        started = time.perf_counter()
        result = attack_cls({"budget": budget, "query_split": "test"}).run(view_for(target, "posterior"), ctx)
        return {"seconds": time.perf_counter() - started, "agreement": result.metrics["agreement"],
                "accuracy": result.metrics["accuracy"], "query_seconds": result.data["query_seconds"],
                "train_seconds": sum(point["train_seconds"] for point in result.data["curve"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--target-steps", type=int, default=150)
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    baseline: ModuleType = module_at(args.baseline_rev, MODULE_PATH, "knockoff_baseline")
    started = time.perf_counter()
    target = briefly_trained_target(args.target_steps)
    print(f"  target trained in {time.perf_counter() - started:.0f} s", flush=True)
    sides = {"old": baseline.KnockoffAttack, "new": current.KnockoffAttack}
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for _ in range(args.passes):
        for name, attack_cls in sides.items():
            runs[name].append(steal(attack_cls, target, args.budget))
            print(f"  pass {len(runs[name])} {name}: {runs[name][-1]}", flush=True)
    ratios = [n["seconds"] / o["seconds"] for o, n in zip(runs["old"], runs["new"], strict=True)]
    print(f"CIFAR-10 ResNet-20 target ({args.target_steps} training steps), target-arch surrogate, "
          f"{args.budget} queries, {args.passes} passes")
    for name, results in runs.items():
        agreements = sorted({round(r["agreement"], 4) for r in results})
        seconds = ", ".join(f"{r['seconds']:.1f}" for r in results)
        parts = ", ".join(f"{r['query_seconds']:.0f} + {r['train_seconds']:.0f}" for r in results)
        print(f"  {name}: s {seconds} (querying + training the curve's surrogates: {parts}); agreement {agreements}")
    per_pass = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"  ratio new / old per pass: {per_pass}; median {statistics.median(ratios):.2f}")
    difference = abs(np.mean([r["agreement"] for r in runs["new"]]) - np.mean([r["agreement"] for r in runs["old"]]))
    print(f"  agreement difference {difference:.4f} ({'within' if difference <= 0.01 else 'NOT within'} 0.01)")


if __name__ == "__main__":
    main()
