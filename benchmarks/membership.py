"""Benchmark of the membership suite against the Adversarial Robustness Toolbox (ART), side by side.

The same target and the same member/non-member sets are attacked by both:

1. ART's `MembershipInferenceBlackBoxRuleBased` ("member iff correctly classified") against our
   ``mia.correctness`` (the same rule);
2. ART's `MembershipInferenceBlackBox` with its neural-network attack model (``attack_model_type="nn"``,
   its defaults: posterior + one-hot label, 100 epochs) against our ``mia.mlp_label`` in the partial
   threat model: both are trained on the same known half of the members and non-members and evaluated
   on the other half.

Both sides start cold: ours through a fresh posterior cache and context (sampling the sets, batched
inference, the attack, the metrics, writing the ROC and score artifacts); ART from the same images,
converted with the target's preprocessing inside its timed region, through a `PyTorchClassifier` on the
same weights in the layout PyTorch builds them (a copy of the module in the usual NCHW layout: what an
ART user hands it; our target runs channels-last when it can, which is part of what is measured). Ours
is also timed warm, i.e. with the target's posteriors already in the engine's cache, as in a run where
several attacks share one model. AUC is computed for both with the suite's
`membership_metrics` on the same evaluated records.

Pass i uses seed i (other member/non-member sets, the same for both sides), so the AUCs are averaged over
passes; the passes are interleaved and the fastest of each side is compared (the machine is shared).
Targets: ours at least 2x faster, AUC no lower.

Targets: the public LeNet-5 MNIST model (../shared/data; 2,000 + 2,000 records) and a self-trained digits
zoo model (small CNN on 200 images; 200 + 200 records, all digits offers once the attacker population
is set aside). ART is an optional dependency: ``pip install -e .[bench]``.

Run from the project root: ``.venv/bin/python benchmarks/membership.py [--passes 3]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

DIGITS_MODEL = "selftrained/digits/small_cnn-n200-e100-s0"
MNIST_MODEL = "file/lenet5_advertorch_clean"


def _shared() -> Path | None:
    from securitynet import config

    return config.shared_data_dir()


def _targets(work: Path) -> list[tuple[Any, int]]:
    """(TargetModel, n) pairs: the digits zoo model always, the public LeNet-5 when ../shared/data is here."""
    from securitynet.catalog.builtin import find_card
    from securitynet.zoo.digits_zoo import build_digits_zoo
    from securitynet.zoo.loader import load_target

    targets = []
    cards = {c.id: c for c in build_digits_zoo(size="full", progress=False, device="cpu")}
    targets.append((load_target(cards[DIGITS_MODEL], device="cpu"), 200))
    shared = _shared()
    if shared is not None and (shared / "models" / "mnist").is_dir():
        os.environ.setdefault("SECURITYNET_MIRROR", str(shared / "models" / "mnist"))
        targets.append((load_target(find_card(MNIST_MODEL), device="cpu"), 2000))
    else:
        print("../shared/data is absent: the public MNIST model is skipped")
    return targets


def _context(target: Any, work: Path, access: str, seed: int, cache: Any = None) -> Any:
    from securitynet.engine.cache import PosteriorCache
    from securitynet.engine.context import JobContext

    folder = Path(tempfile.mkdtemp(dir=work))
    return JobContext.standalone(target.card, seed=seed, access=access, device="cpu",
                                 cache=cache or PosteriorCache(folder / "cache"), artifacts_root=folder / "artifacts")


def _ours(name: str, params: dict[str, Any], target: Any, work: Path, seed: int) -> tuple[float, float, float, Any]:
    """(cold seconds, warm seconds, auc, context) of our attack: fresh cache, then again with it filled."""
    from securitynet.attacks import get_attack
    from securitynet.engine.access import view_for

    cls = get_attack(name)
    ctx = _context(target, work, cls.access, seed)
    start = time.perf_counter()
    result = cls(params).run(view_for(target, cls.access), ctx)
    cold = time.perf_counter() - start
    warm_ctx = _context(target, work, cls.access, seed, cache=ctx.cache)
    start = time.perf_counter()
    again = cls(params).run(view_for(target, cls.access), warm_ctx)
    warm = time.perf_counter() - start
    assert again.metrics["auc"] == result.metrics["auc"]
    return cold, warm, result.metrics["auc"], ctx


def _art_classifier(target: Any, module: torch.nn.Module) -> Any:
    from art.estimators.classification import PyTorchClassifier

    spec = target.card.input
    shape = (spec.channels, *spec.size)
    return PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(), input_shape=shape,
                             nb_classes=target.card.num_classes)


def as_loaded(module: torch.nn.Module) -> torch.nn.Module:
    """The target's weights in the layout PyTorch builds them (NCHW), as a user hands them to ART."""
    return copy.deepcopy(module).to(memory_format=torch.contiguous_format).eval()


def _art_rule_based(target: Any, module: torch.nn.Module, evaluated: Any) -> tuple[float, float]:
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    from securitynet.attacks.membership.metrics import membership_metrics

    images, labels, is_member = evaluated.combined()
    start = time.perf_counter()
    x = target.preprocess(images).numpy()
    attack = MembershipInferenceBlackBoxRuleBased(_art_classifier(target, module))
    inferred = attack.infer(x, labels)
    seconds = time.perf_counter() - start
    return seconds, membership_metrics(inferred.astype(float), is_member)["auc"]


def _art_nn(target: Any, module: torch.nn.Module, known: Any, evaluated: Any) -> tuple[float, float]:
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    from securitynet.attacks.membership.metrics import membership_metrics

    images, labels, is_member = evaluated.combined()
    start = time.perf_counter()
    attack = MembershipInferenceBlackBox(_art_classifier(target, module), input_type="prediction",
                                         attack_model_type="nn")
    attack.fit(target.preprocess(known.members.images).numpy(), known.members.labels,
               target.preprocess(known.nonmembers.images).numpy(), known.nonmembers.labels)
    scores = attack.infer(target.preprocess(images).numpy(), labels, probabilities=True).reshape(-1)
    seconds = time.perf_counter() - start
    return seconds, membership_metrics(scores, is_member)["auc"]


def _sets(target: Any, work: Path, n: int, known_fraction: float | None, seed: int) -> tuple[Any, Any]:
    """(known, evaluated) exactly as our attacks draw them for ``seed`` (known is None without a fraction)."""
    from securitynet.attacks.membership.params import MembershipParams, sets_for
    from securitynet.attacks.membership.sets import split_known

    ctx = _context(target, work, "posterior", seed)
    sets = sets_for(ctx, MembershipParams(n=n))
    if known_fraction is None:
        return None, sets
    return split_known(ctx, sets, known_fraction)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=3, help="interleaved timed passes per side")
    args = parser.parse_args()
    try:
        import art  # noqa: F401
    except ImportError:
        sys.exit("ART is not installed: pip install adversarial-robustness-toolbox (or: pip install -e .[bench])")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("SECURITYNET_CACHE", str(work / "cache"))
        rows = []
        for target, n in _targets(work):
            art_module = as_loaded(target.module)
            partial = {"n": n, "threat_model": "partial", "known_fraction": 0.5}
            for label in ("rule-based vs mia.correctness", "nn attack vs mia.mlp_label (partial)"):
                cold, warm, art_times, our_aucs, art_aucs = [], [], [], [], []
                for seed in range(args.passes):
                    _, evaluated = _sets(target, work, n, None, seed)
                    if label.startswith("rule"):
                        c, w, auc, ctx = _ours("mia.correctness", {"n": n}, target, work, seed)
                        seconds, art_auc = _art_rule_based(target, art_module, evaluated)
                        scored = evaluated
                    else:
                        c, w, auc, ctx = _ours("mia.mlp_label", partial, target, work, seed)
                        known, scored = _sets(target, work, n, 0.5, seed)
                        seconds, art_auc = _art_nn(target, art_module, known, scored)
                    (used,) = [u for u in ctx.data_used if u["kind"] == "membership"]
                    # the same records on both sides
                    assert used["member_indices"] == evaluated.members.indices.tolist()
                    cold.append(c)
                    warm.append(w)
                    our_aucs.append(auc)
                    art_times.append(seconds)
                    art_aucs.append(art_auc)
                row = (target.id, label, f"{len(scored.members)}+{len(scored.nonmembers)}", np.mean(our_aucs),
                       np.std(our_aucs), np.mean(art_aucs), np.std(art_aucs), min(cold), min(warm), min(art_times))
                rows.append(row)
                print(f"{row[0]:42s} {row[1]:38s} AUC ours {row[3]:.4f}+-{row[4]:.4f} ART {row[5]:.4f}+-{row[6]:.4f}  "
                      f"time ours {row[7]:.2f}s (warm {row[8]:.2f}s) ART {row[9]:.2f}s  "
                      f"ratio {row[9] / row[7]:.1f}x (warm {row[9] / row[8]:.1f}x)", flush=True)
        print("\n| target | attack | records per pass (m+nm) | AUC ours | AUC ART | ours cold s | ours warm s | ART s |"
              " ART/ours cold | ART/ours warm |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} +- {r[4]:.3f} | {r[5]:.3f} +- {r[6]:.3f} | {r[7]:.2f} | "
                  f"{r[8]:.2f} | {r[9]:.2f} | {r[9] / r[7]:.1f}x | {r[9] / r[8]:.1f}x |")


if __name__ == "__main__":
    main()
