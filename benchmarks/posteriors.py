"""Benchmark of the engine's posterior path, each figure side by side with its baseline.

1. Throughput of posterior extraction (engine: `PosteriorCache.get` on a cold cache, i.e. hashing,
   batched inference and the atomic disk write) against a plain PyTorch loop over the same model
   and images. Target: ratio >= 0.95. Models: the public LeNet-5 MNIST model (../shared/data) on the
   10,000 MNIST test images, and pytorchcv ResNet-20 (CIFAR-10 layout, random weights) on 32x32
   GTSRB test images (random images when ../shared/data is absent).
2. Four posterior-based membership attacks on one model through the engine, with the posterior
   cache against recomputing posteriors for every attack. Target: >= 3x faster.
3. Peak resident memory of a 10-model run against a 1-model run, each in its own subprocess
   (`resource.getrusage(RUSAGE_SELF).ru_maxrss`), on 77 MiB models. Target: <= 1.2x.

Timings take the fastest of interleaved passes: on a shared machine slower passes measure the load.

Run from the project root: `.venv/bin/python benchmarks/posteriors.py` (a couple of minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
FOUR_ATTACKS = ("bench.confidence", "bench.entropy", "bench.modified_entropy", "bench.loss")


# --- models and data ------------------------------------------------------------------------------


class WideMlp(nn.Module):
    """A deliberately heavy MNIST model (20M parameters, 77 MiB): a model kept after its jobs would show in RSS."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 4096), nn.Linear(4096, 4096), nn.Linear(4096, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


def _mnist_target():
    import securitynet

    mirror = _shared() / "models" / "mnist" if _shared() else None
    if mirror is None:
        raise SystemExit("the MNIST figures need ../shared/data (public LeNet-5 weights and MNIST)")
    os.environ.setdefault("SECURITYNET_MIRROR", str(mirror))
    return securitynet.load("file/lenet5_advertorch_clean", device="cpu")


def _shared() -> Path | None:
    from securitynet import config

    return config.shared_data_dir()


def _resnet20_target(n: int):
    """ResNet-20 with seeded random weights, labelled with a benchmark-only weight identity."""
    from securitynet.catalog.builtin import find_card
    from securitynet.zoo.loader import build_module
    from securitynet.zoo.target import TargetModel

    card = find_card("pytorchcv/resnet20_cifar10")
    torch.manual_seed(0)
    target = TargetModel(card=card, module=build_module(card), weight_hash="benchmark:resnet20-random-seed0",
                         device=torch.device("cpu"))
    if _shared():
        from securitynet.data import load_split

        images, what = load_split("gtsrb", "test").images[:n], f"{n} GTSRB test images (32x32)"
    else:
        images = np.random.default_rng(0).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        what = f"{n} random 32x32 images (no ../shared/data)"
    return target, images, what


# --- 1. throughput --------------------------------------------------------------------------------


@torch.inference_mode()
def plain_loop(module: nn.Module, images: np.ndarray, spec: Any, output_kind: str, batch_size: int = 256) -> np.ndarray:
    """What one writes by hand: uint8 -> float, scale, normalise, batches, softmax, numpy."""
    mean = std = None
    if spec.mean is not None:
        mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1)
    outputs = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).float() * spec.scale
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        if mean is not None:
            x = (x - mean) / std
        out = module(x)
        outputs.append(torch.softmax(out, dim=1) if output_kind == "logits" else out)
    return torch.cat(outputs).numpy()


def throughput(target: Any, images: np.ndarray, repeats: int) -> dict[str, float]:
    from securitynet.engine.cache import PosteriorCache

    def engine() -> np.ndarray:
        with tempfile.TemporaryDirectory() as folder:  # cold cache: the full miss path, disk write included
            return PosteriorCache(folder).get(target, images)

    def plain() -> np.ndarray:
        return plain_loop(target.module, images, target.card.input, target.card.output_kind)

    np.testing.assert_allclose(engine(), plain(), atol=1e-5)  # warm-up, and both compute the same thing
    times: dict[str, list[float]] = {"engine": [], "plain": []}
    for _ in range(repeats):
        for name, fn in (("plain", plain), ("engine", engine)):  # interleaved: load changes hit both
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    # The fastest pass of each: on a shared machine the others measure the neighbours, not the code.
    engine_s, plain_s = min(times["engine"]), min(times["plain"])
    return {"images": len(images), "engine_img_s": len(images) / engine_s, "plain_img_s": len(images) / plain_s,
            "ratio": plain_s / engine_s}


# --- 2. four posterior attacks, cache vs recompute -------------------------------------------------


def _register_bench_attacks() -> None:
    """Confidence, entropy, modified entropy and loss scores: four posterior attacks owned by this benchmark,
    so its figures do not move when the membership suite changes."""
    from pydantic import Field

    from securitynet.attacks import Attack, AttackParams, AttackResult, list_attacks, register_attack
    from securitynet.attacks.membership.metrics import membership_metrics

    if list_attacks("bench.*"):
        return

    class Params(AttackParams):
        n: int = Field(2000, ge=1)

    def make(name: str, score_fn):  # type: ignore[no-untyped-def]
        class Bench(Attack):
            def run(self, target, ctx):  # type: ignore[no-untyped-def]
                sample = ctx.membership(self.params.n)
                scores, members = [], []
                for part, flag in ((sample.members, True), (sample.nonmembers, False)):
                    probs = ctx.posteriors(target, part).astype(np.float64)
                    scores.append(score_fn(probs, part.labels))
                    members.append(np.full(len(part), flag))
                return AttackResult(metrics=membership_metrics(np.concatenate(scores), np.concatenate(members)))

        Bench.name, Bench.version, Bench.access, Bench.Params = name, "1", "posterior", Params
        register_attack(Bench)

    eps = 1e-12

    def true_class(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        return p[np.arange(len(y)), y]

    def modified_entropy(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        py = true_class(p, y)
        others = p * np.log(np.clip(1 - p, eps, None))
        others[np.arange(len(y)), y] = 0
        return -(-(1 - py) * np.log(np.clip(py, eps, None)) - others.sum(1))

    make("bench.confidence", true_class)
    make("bench.entropy", lambda p, y: (p * np.log(np.clip(p, eps, None))).sum(1))
    make("bench.modified_entropy", modified_entropy)
    make("bench.loss", lambda p, y: np.log(np.clip(true_class(p, y), eps, None)))


def four_attacks(target_card: Any, n: int) -> dict[str, Any]:
    from securitynet.engine.plan import build_plan
    from securitynet.engine.run import execute_plan
    from securitynet.store import Store

    _register_bench_attacks()
    attacks = list(FOUR_ATTACKS)
    seconds: dict[bool, list[float]] = {}
    for cached in (False, True, False, True):
        with tempfile.TemporaryDirectory() as folder:
            store = Store(f"sqlite:///{folder}/bench.sqlite")
            plan = build_plan([target_card], attacks, params={a: {"n": n} for a in attacks})
            start = time.perf_counter()
            summary = execute_plan(plan, store, progress=False, cache_root=f"{folder}/cache", posterior_cache=cached)
            elapsed = time.perf_counter() - start
            assert not summary.failed, [r.error for r in summary.failed]
            seconds.setdefault(cached, []).append(elapsed)
    with_cache, recompute = min(seconds[True]), min(seconds[False])
    return {"attacks": attacks, "n_per_side": n, "with_cache_s": with_cache, "recompute_s": recompute,
            "speedup": recompute / with_cache}


# --- 3. peak memory, 10 models vs 1 ---------------------------------------------------------------


def _write_wide_models(folder: Path, count: int) -> None:
    for i in range(count):
        path = folder / f"wide_{i}.pt"
        if not path.exists():
            torch.manual_seed(i)
            torch.save(WideMlp().state_dict(), path)


def _wide_cards(folder: Path, count: int) -> list[Any]:
    from securitynet.catalog.card import InputSpec, ModelCard, WeightsSpec
    from securitynet.zoo.weights import sha256_file

    return [
        ModelCard(id=f"bench/wide_{i}", name=f"wide_{i}", source="file", architecture="posteriors:WideMlp",
                  dataset="mnist", num_classes=10, input=InputSpec(channels=1, size=(28, 28)),
                  weights=WeightsSpec(filename=f"wide_{i}.pt", sha256=sha256_file(folder / f"wide_{i}.pt")),
                  purpose="other")
        for i in range(count)
    ]


def memory_child(folder: Path, count: int) -> None:
    """Run mia.correctness and a posterior attack on `count` models; print peak RSS as JSON.

    Both attacks use the same 250 + 250 images (same seed), so each model does one forward pass.
    """
    from securitynet.engine.plan import build_plan
    from securitynet.engine.run import execute_plan
    from securitynet.store import Store

    _register_bench_attacks()
    os.environ["SECURITYNET_MIRROR"] = str(folder)
    store = Store(f"sqlite:///{folder}/memory_{count}.sqlite")
    plan = build_plan(_wide_cards(folder, count), "mia.correctness,bench.confidence",
                      params={"mia.correctness": {"n": 250}, "bench.confidence": {"n": 250}})
    start = time.perf_counter()
    summary = execute_plan(plan, store, progress=False, cache_root=str(folder / f"cache_{count}"))
    assert not summary.failed, [r.error for r in summary.failed]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"models": count, "jobs": len(summary.records), "peak_rss_mib": peak_kib / 1024,
                      "seconds": time.perf_counter() - start}))


def peak_memory() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _write_wide_models(folder, 10)
        results = {}
        for count in (1, 10):
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(count), "--folder", str(folder)],
                                 env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise SystemExit(f"memory child failed:\n{out.stdout}\n{out.stderr}")
            results[count] = json.loads(out.stdout.strip().splitlines()[-1])
    one, ten = results[1]["peak_rss_mib"], results[10]["peak_rss_mib"]
    model_mib = sum(p.numel() for p in WideMlp().parameters()) * 4 / 2**20
    return {"one_model_mib": one, "ten_models_mib": ten, "ratio": ten / one, "model_mib": model_mib,
            "ratio_if_kept": (one + 9 * model_mib) / one}


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per side (the fastest is reported)")
    parser.add_argument("--resnet-images", type=int, default=1000)
    parser.add_argument("--attack-n", type=int, default=2000, help="members (and non-members) per attack")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.folder, args.memory_child)
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    lenet = _mnist_target()
    from securitynet.data import load_split

    mnist = load_split("mnist", "test").images
    row = throughput(lenet, mnist, args.repeats)
    print(f"[1a] LeNet-5 (public, MNIST), {row['images']} MNIST test images: engine {row['engine_img_s']:.0f} img/s, "
          f"plain loop {row['plain_img_s']:.0f} img/s, ratio {row['ratio']:.3f} (target >= 0.95)")
    resnet, images, what = _resnet20_target(args.resnet_images)
    row = throughput(resnet, images, args.repeats)
    print(f"[1b] ResNet-20 (pytorchcv, random weights), {what}: engine {row['engine_img_s']:.0f} img/s, "
          f"plain loop {row['plain_img_s']:.0f} img/s, ratio {row['ratio']:.3f} (target >= 0.95)")
    row = four_attacks(lenet.card, args.attack_n)
    print(f"[2] four posterior attacks ({', '.join(row['attacks'])}) on LeNet-5, {row['n_per_side']} members + "
          f"{row['n_per_side']} non-members: recompute {row['recompute_s']:.2f} s, with cache "
          f"{row['with_cache_s']:.2f} s, speedup {row['speedup']:.2f}x (target >= 3)")
    row = peak_memory()
    print(f"[3] peak RSS, {row['model_mib']:.0f} MiB models: 1 model {row['one_model_mib']:.0f} MiB, "
          f"10 models {row['ten_models_mib']:.0f} MiB, ratio {row['ratio']:.3f} (target <= 1.2; "
          f"{row['ratio_if_kept']:.2f} if the models were kept)")


if __name__ == "__main__":
    main()
