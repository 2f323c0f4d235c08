"""Model stealing: stealing.knockoff against ART's KnockoffNets and CopycatCNN on the same target, queries and budget.

Target: the public LeNet-5 of AdverTorch (`file/lenet5_advertorch_clean`, from ../shared/data/models/mnist).
Query set: ``--budget`` images drawn once from the MNIST 5,000-image training subset (the in-distribution
query set of our attack, same seed); every method queries exactly these images. Surrogate: the attack's
small CNN (the LeNet-style `lenet` of zoo/archs/small.py with He initialisation), built once per seed by the
attack's own builder, so every method starts from the very same weights.

Training: ours runs with its default recipe (10 epochs, batch 64, SGD lr 0.05 momentum 0.9 weight decay
5e-4, constant rate; posteriors as soft targets, labels with smoothing 0.1) and trains one surrogate (no
budget curve). ART is given the same optimiser and two recipes: its reference, ``--art-epochs`` (30) passes at
batch 128, by which its agreement has levelled off; and our recipe (10 epochs, batch 64), to show what the
recipe alone buys it. ART's PyTorchClassifier trains with cross-entropy on the argmax of the answers even when
KnockoffNets is given probabilities, and has no label smoothing.

Measured on the 10,000 MNIST test images (none of them queried): accuracy, agreement with the target, wall
and CPU time of the whole job (querying, training, and labelling the test images by target and surrogate).
Our side runs twice per answer type: with an empty posterior cache (cold: the target labels the test images
and answers the queries inside the job), and again with the cache the first run filled (warm: as in an
engine run, where the target's test-set posteriors are computed once per model and shared by every attack
and later run). One pass per seed (``--seeds``), methods interleaved, so each seed is a paired comparison.
Reported: mean accuracy and agreement over the seeds, and the fastest wall time of each method.

Target: our mean agreement no lower than ART's reference at no more than half its wall time (posterior
answers vs KnockoffNets, label answers vs CopycatCNN), and no ART recipe reaching our agreement in less than
twice our time.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/stealing.py [--budget 1000] [--art-epochs 30] [--seeds 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from securitynet import config

MODEL = "file/lenet5_advertorch_clean"


def _use_shared_mirror() -> None:
    shared = config.shared_data_dir()
    if shared is None or not (shared / "models" / "mnist").is_dir():
        raise SystemExit("../shared/data/models/mnist is absent: this benchmark needs the public MNIST LeNet-5")
    os.environ.setdefault("SECURITYNET_MIRROR", str(shared / "models" / "mnist"))


def _timed(run: Callable[[], dict[str, float]]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return {**result, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def ours(target: Any, params: dict[str, Any], answer: str, seed: int, cache_dir: Path) -> dict[str, float]:
    """One stealing.knockoff job; its posteriors go through the cache in ``cache_dir`` (empty: a cold run)."""
    from securitynet.attacks import get_attack
    from securitynet.engine.access import view_for
    from securitynet.engine.cache import PosteriorCache
    from securitynet.engine.context import JobContext

    with tempfile.TemporaryDirectory() as tmp:
        ctx = JobContext.standalone(target.card, seed=seed, access="posterior", device="cpu",
                                    cache=PosteriorCache(cache_dir), artifacts_root=Path(tmp))
        result = get_attack("stealing.knockoff")({**params, "answer": answer}).run(view_for(target, "posterior"), ctx)
    return {"accuracy": result.metrics["accuracy"], "agreement": result.metrics["agreement"],
            "queries": result.metrics["queries"]}


def art_attack(target: Any, victim_module: torch.nn.Module, query_images: np.ndarray, test: Any,
               surrogate: torch.nn.Module, *, kind: str, epochs: int, batch_size: int, seed: int = 0
               ) -> dict[str, float]:
    from art.attacks.extraction import CopycatCNN, KnockoffNets
    from art.estimators.classification import PyTorchClassifier

    from securitynet.attacks.stealing.metrics import stealing_metrics
    from securitynet.attacks.stealing.surrogates import predict_labels
    from securitynet.zoo.target import images_to_tensor

    spec = target.card.input
    # ART takes model inputs: the images as the target preprocesses them (for this LeNet, x / 255).
    x = images_to_tensor(query_images, spec).numpy()
    victim = PyTorchClassifier(
        model=torch.nn.Sequential(victim_module, torch.nn.Softmax(dim=1)), loss=torch.nn.CrossEntropyLoss(),
        input_shape=x.shape[1:], nb_classes=10, clip_values=(0.0, 1.0),
    )
    module = copy.deepcopy(surrogate)
    thieved = PyTorchClassifier(
        model=module, loss=torch.nn.CrossEntropyLoss(), input_shape=x.shape[1:], nb_classes=10,
        optimizer=torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4),
        clip_values=(0.0, 1.0),
    )
    common = {"batch_size_fit": batch_size, "batch_size_query": 256, "nb_epochs": epochs, "nb_stolen": len(x)}
    if kind == "knockoff":
        attack = KnockoffNets(victim, sampling_strategy="random", use_probability=True, **common)
    else:
        attack = CopycatCNN(victim, use_probability=False, **common)
    # ART draws its query order from numpy's global generator and its batches from torch's (DataLoader).
    np.random.seed(seed)
    torch.manual_seed(seed)
    stolen = attack.extract(x, thieved_classifier=thieved)
    surrogate_labels = predict_labels(stolen.model, test.images, spec, "cpu")
    target_labels = target.predict(test.images)
    return {**stealing_metrics(surrogate_labels, target_labels, test.labels), "queries": float(len(x))}


def verdict(ours: dict[str, float], art_runs: dict[str, dict[str, float]], reference: str) -> str:
    """Met when ours agrees at least as well as ART's reference at <= half its time, and no ART recipe
    reaches our agreement in less than twice our time."""
    ref = art_runs[reference]
    if ours["agreement"] < ref["agreement"] or ours["wall_s"] > 0.5 * ref["wall_s"]:
        return "NOT met"
    beaten = [name for name, m in art_runs.items()
              if m["agreement"] >= ours["agreement"] and m["wall_s"] < 2 * ours["wall_s"]]
    return "met" if not beaten else f"NOT met ({', '.join(beaten)} as good in under twice our time)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--art-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    _use_shared_mirror()

    from securitynet.attacks.stealing.knockoff import KnockoffAttack, KnockoffParams
    from securitynet.attacks.stealing.query_sets import resolve_query_sets
    from securitynet.attacks.stealing.surrogates import build_surrogate, surrogate_spec
    from securitynet.seeds import derive_seed
    from securitynet.zoo import train
    from securitynet.zoo.loader import load_target

    target = load_target(MODEL, device="cpu")
    # ART queries the target's weights in the layout PyTorch builds them (what its users hand it); ours runs
    # them channels-last. Agreement is measured the same way for both (the target's labels via TargetModel).
    victim_module = copy.deepcopy(target.module).to(memory_format=torch.contiguous_format).eval()
    params = {"budget": args.budget, "surrogate": "small-cnn", "curve": [1.0]}
    defaults = KnockoffParams(**params)
    spec = surrogate_spec("small-cnn", target.card)
    sets = resolve_query_sets(target.card, "in-distribution", seed=0)
    test = sets.evaluation
    print(f"target {MODEL}; {args.budget} queries from mnist/{sets.pool.split}; {len(test)} test images; "
          f"surrogate {spec.architecture} (He init); ours {defaults.epochs} epochs batch {defaults.batch_size}; "
          f"ART {args.art_epochs} epochs batch 128 and {defaults.epochs} epochs batch {defaults.batch_size}; "
          f"torch threads {torch.get_num_threads()}")

    reference, ours_recipe = f"{args.art_epochs} ep, b128", f"{defaults.epochs} ep, b{defaults.batch_size}"
    names = ("ours posterior (cold cache)", "ours posterior (warm cache)", f"ART KnockoffNets ({reference})",
             f"ART KnockoffNets ({ours_recipe})", "ours label (cold cache)", "ours label (warm cache)",
             f"ART CopycatCNN ({reference})", f"ART CopycatCNN ({ours_recipe})")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as caches:
        for seed in range(args.seeds):
            images = sets.take(KnockoffAttack._random_order(sets, args.budget, seed)).images  # the images we query
            surrogate = build_surrogate(spec, 10, seed=derive_seed(seed, "stealing-surrogate", spec.kind,
                                                                    spec.architecture), trainer=train)
            posterior_cache, label_cache = Path(caches) / f"posterior-{seed}", Path(caches) / f"label-{seed}"
            art = partial(art_attack, target, victim_module, images, test, surrogate, seed=seed)
            methods: dict[str, Callable[[], dict[str, float]]] = {
                names[0]: partial(ours, target, params, "posterior", seed, posterior_cache),
                names[1]: partial(ours, target, params, "posterior", seed, posterior_cache),
                names[2]: partial(art, kind="knockoff", epochs=args.art_epochs, batch_size=128),
                names[3]: partial(art, kind="knockoff", epochs=defaults.epochs, batch_size=defaults.batch_size),
                names[4]: partial(ours, target, params, "label", seed, label_cache),
                names[5]: partial(ours, target, params, "label", seed, label_cache),
                names[6]: partial(art, kind="copycat", epochs=args.art_epochs, batch_size=128),
                names[7]: partial(art, kind="copycat", epochs=defaults.epochs, batch_size=defaults.batch_size),
            }
            for name, run in methods.items():
                measured = _timed(run)
                runs[name].append(measured)
                print(f"  seed {seed} {name:34s} wall {measured['wall_s']:6.1f} s  cpu {measured['cpu_s']:6.1f} s  "
                      f"agreement {measured['agreement']:.4f}", flush=True)

    summary = {
        name: {
            "accuracy": float(np.mean([m["accuracy"] for m in ms])),
            "agreement": float(np.mean([m["agreement"] for m in ms])),
            "queries": ms[0]["queries"],
            "wall_s": min(m["wall_s"] for m in ms),
            "cpu_s": min(m["cpu_s"] for m in ms),
        }
        for name, ms in runs.items()
    }
    print(f"\n{'method':34s} {'accuracy':>9s} {'agreement':>10s} {'queries':>8s} {'wall s':>8s} {'cpu s':>8s}")
    for name, m in summary.items():
        print(f"{name:34s} {m['accuracy']:9.4f} {m['agreement']:10.4f} {m['queries']:8.0f} "
              f"{m['wall_s']:8.1f} {m['cpu_s']:8.1f}")
    for ours_names, art_names in ((names[0:2], names[2:4]), (names[4:6], names[6:8])):
        art_runs = {n: summary[n] for n in art_names}
        for ours_name in ours_names:
            a, b = summary[ours_name], summary[art_names[0]]
            print(f"{ours_name} vs {art_names[0]}: agreement {a['agreement']:.4f} vs {b['agreement']:.4f}, "
                  f"wall ratio {a['wall_s'] / b['wall_s']:.2f}, cpu ratio {a['cpu_s'] / b['cpu_s']:.2f}: "
                  f"{verdict(a, art_runs, art_names[0])}")


if __name__ == "__main__":
    main()
