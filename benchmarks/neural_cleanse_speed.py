"""Neural Cleanse, today's implementation against the one before it, side by side in one run.

The baseline is the attack's module as it stood at ``--baseline-rev`` (version 1, read from git history and
loaded under another name by `history.py`, so nothing of it is copied here). Three checks:

1. Speed at CIFAR scale: a pytorchcv CIFAR-10 ResNet-20 (random weights: the cost of a step does not depend
   on them), channels-last as the engine runs it, 500 CIFAR-10 test images from ``../shared/data``, default
   parameters except at most ``--epochs`` epochs, version 2 in float32 (the default) and in bfloat16
   (``precision=bfloat16``). The sides run the same number of steps, so the time ratio per step is the
   ratio per model. The sides alternate; the median ratio to version 1 over ``--passes`` is printed, with
   the largest relative difference of the reversed norms and every side's verdict.
2. Verdict on the public BadNet (verazuo, MNIST, target 1) with the default parameters, the whole attack
   (``run``) of each version on the same context seed: flagged classes and target.
3. Verdict on a small MNIST trojan zoo (``--zoo-models`` clean and as many BadNets twins, LeNet-5 and MLP, the
   quickstart's Neural Cleanse budget): flagged and target per model.

Checks 2 and 3 run version 2 in ``--precision`` (float32 unless asked).

    PYTHONPATH=src .venv/bin/python benchmarks/neural_cleanse_speed.py [--passes 3] [--epochs 2]

Needs a git checkout (for the baseline) and ``../shared/data`` (CIFAR-10 test set, the public MNIST models).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from history import ROOT, module_at
from securitynet.attacks.backdoor import neural_cleanse as current
from securitynet.attacks.backdoor.common import PixelModel, to_pixels

SHARED = ROOT.parent / "shared" / "data"
MODULE_PATH = "src/securitynet/attacks/backdoor/neural_cleanse.py"
BASELINE_REV = "5e0c18b"  # the last commit with Neural Cleanse version 1


def load_baseline(rev: str) -> ModuleType:
    """The attack module at ``rev``, importable as ``neural_cleanse_baseline`` (not registered as an attack)."""
    return module_at(rev, MODULE_PATH, "neural_cleanse_baseline")


def cifar_images(n: int) -> np.ndarray:
    with open(SHARED / "cifar10" / "cifar-10-batches-py" / "test_batch", "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")  # noqa: S301 - the project's own offline data
    return np.asarray(batch[b"data"][:n], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def cifar_speed(baseline: ModuleType, passes: int, epochs: int) -> None:
    from pytorchcv.model_provider import get_model

    from securitynet.catalog.sources.pytorchcv import pytorchcv_card
    from securitynet.zoo.memory_format import use_channels_last

    card = pytorchcv_card("resnet20_cifar10")
    torch.manual_seed(0)
    module = get_model("resnet20_cifar10", pretrained=False).eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    images = to_pixels(cifar_images(500), card.input)
    use_channels_last(module, images[:2])
    params = current.NeuralCleanseParams(max_epochs=epochs)
    bf16 = current.NeuralCleanseParams(max_epochs=epochs, precision="bfloat16")
    sides = {
        "v1": lambda: baseline.reverse_engineer_triggers(
            PixelModel(module, card), images, 10, params, torch.Generator().manual_seed(0)),
        "v2": lambda: current.reverse_engineer_triggers(
            current.folded_pixel_model(module, card, images), images, 10, params, torch.Generator().manual_seed(0)),
        "v2 bfloat16": lambda: current.reverse_engineer_triggers(
            current.folded_pixel_model(module, card, images), images, 10, bf16, torch.Generator().manual_seed(0)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    results = {}
    for _ in range(passes):
        for name, run in sides.items():
            started = time.perf_counter()
            results[name] = run()
            seconds[name].append(time.perf_counter() - started)
    old = results["v1"]
    print(f"CIFAR-10 ResNet-20, {old.steps} steps of {params.batch_size} x 10 images, {passes} passes")
    for name in sides:
        print(f"  {name} s: {', '.join(f'{s:.1f}' for s in seconds[name])}")
    for name in ("v2", "v2 bfloat16"):
        new = results[name]
        same_schedule = new.steps == old.steps and np.array_equal(old.epochs, new.epochs)
        ratios = [n / o for o, n in zip(seconds["v1"], seconds[name], strict=True)]
        difference = np.max(np.abs(new.norms - old.norms) / old.norms)
        print(f"  ratio {name} / v1 per pass: {', '.join(f'{r:.2f}' for r in ratios)}; median "
              f"{statistics.median(ratios):.2f}; largest relative difference of the norms {difference:.2e}"
              f"{'' if same_schedule else ' (schedules differ: compare the time per step)'}")
    for name, result in results.items():
        report = current.detect_outliers(result.norms)
        print(f"  {name}: flagged {report.flagged_classes}, target {report.suspected_target}, "
              f"anomaly index {report.model_anomaly_index:.3f}")


def _whole_attack(attack_cls: type, card, params: dict, artifacts: Path) -> dict:
    from securitynet.engine.access import view_for
    from securitynet.engine.context import JobContext
    from securitynet.zoo.loader import load_target

    ctx = JobContext.standalone(card, seed=0, device="cpu", access=attack_cls.access, artifacts_root=artifacts)
    target = load_target(card, device="cpu")
    started = time.perf_counter()
    metrics = attack_cls(params).run(view_for(target, attack_cls.access), ctx).metrics
    return {"seconds": time.perf_counter() - started, "flagged": metrics["flagged"],
            "target": metrics["suspected_target"], "anomaly_index": metrics["anomaly_index"]}


def compare_verdicts(baseline: ModuleType, cards: list, params: dict, title: str, precision: str) -> bool:
    print(f"{title} (v2 in {precision})")
    same = True
    with tempfile.TemporaryDirectory() as folder:
        for card in cards:
            old = _whole_attack(baseline.NeuralCleanse, card, params, Path(folder) / "v1")
            new = _whole_attack(current.NeuralCleanse, card, {**params, "precision": precision}, Path(folder) / "v2")
            agree = (old["flagged"], old["target"]) == (new["flagged"], new["target"])
            same &= agree
            print(f"  {card.id}: v1 flagged {old['flagged']:.0f} target {old['target']:.0f} "
                  f"(index {old['anomaly_index']:.2f}, {old['seconds']:.0f} s) | v2 flagged {new['flagged']:.0f} "
                  f"target {new['target']:.0f} (index {new['anomaly_index']:.2f}, {new['seconds']:.0f} s)"
                  f"{'' if agree else '  DIFFERENT'}")
    return same


def public_badnet(baseline: ModuleType, precision: str) -> bool:
    from securitynet.catalog.sources import yaml_cards

    os.environ.setdefault("SECURITYNET_MIRROR", str(SHARED / "models" / "mnist"))
    card = next(c for c in yaml_cards.iter_cards() if c.id == "file/badnet_verazuo_mnist")
    return compare_verdicts(baseline, [card], {}, "public BadNet, default parameters", precision)


def trojan_zoo(baseline: ModuleType, n: int, precision: str) -> bool:
    from securitynet.attacks.backdoor.quickstart import SMALL_PARAMS
    from securitynet.zoo.trojan.trojan_zoo import TrojanZooSpec, build_trojan_zoo

    spec = TrojanZooSpec(dataset="mnist", n_clean=n, n_trojaned=n, attacks=("badnets",), seed=0,
                         architectures=("lenet", "mlp"), epochs=3)
    cards = build_trojan_zoo(spec, device="cpu", progress=False)
    title = f"MNIST trojan zoo, {n} clean + {n} BadNets, quickstart budget"
    return compare_verdicts(baseline, cards, SMALL_PARAMS["backdoor.neural_cleanse"], title, precision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="most epochs in the CIFAR speed check")
    parser.add_argument("--zoo-models", type=int, default=2, help="clean models (and as many BadNets) in the zoo")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--only", choices=("speed", "badnet", "zoo"), help="run one check only")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="version 2's precision in the verdict checks")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    baseline = load_baseline(args.baseline_rev)
    same = True
    if args.only in (None, "speed"):
        cifar_speed(baseline, args.passes, args.epochs)
    if args.only in (None, "badnet"):
        same &= public_badnet(baseline, args.precision)
    if args.only in (None, "zoo"):
        same &= trojan_zoo(baseline, args.zoo_models, args.precision)
    print("verdicts: " + ("the same" if same else "DIFFERENT"))


if __name__ == "__main__":
    main()
