"""Trainer speed: LiRA-style reference models on digits, our trainer against a textbook PyTorch loop.

Trains ``--models`` reference models (default 16, as a small LiRA run would), each on a random half of the
digits training split with the same recipe, once with `securitynet.zoo.train.train_classifier` and once
with the usual baseline: a `Dataset` that preprocesses one image per `__getitem__`, a shuffling
`DataLoader`, and torch's default thread count. Both see the same images, epochs, batch size, optimizer
and learning rate. Prints per-model and total wall time, process CPU time, the accuracies (so speed is not bought with
quality) and the ratio baseline / ours. On a machine shared with other work, compare the CPU times: a
multi-threaded baseline spin-waits there and its wall time explodes.

    .venv/bin/python benchmarks/trainer.py [--models 16] [--arch mlp] [--epochs 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from securitynet.data import load_split
from securitynet.zoo.digits_zoo import ARCHITECTURES, BASE_RECIPE, INPUT_SPEC
from securitynet.zoo.target import images_to_tensor
from securitynet.zoo.train import init_module, train_classifier


class _PerSampleDigits(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return images_to_tensor(self.images[i : i + 1].copy(), INPUT_SPEC)[0], int(self.labels[i])


def baseline_train(module: torch.nn.Module, images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> None:
    torch.manual_seed(seed)
    loader = DataLoader(_PerSampleDigits(images, labels), batch_size=BASE_RECIPE.batch_size, shuffle=True)
    optimizer = torch.optim.Adam(module.parameters(), lr=BASE_RECIPE.lr, weight_decay=BASE_RECIPE.weight_decay)
    module.train()
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(module(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    module.eval()


def accuracy(module: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        return float((module(images_to_tensor(images.copy(), INPUT_SPEC)).argmax(1).numpy() == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--arch", default="mlp", choices=sorted(ARCHITECTURES))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    train, test = load_split("digits", "train"), load_split("digits", "test")
    rng = np.random.default_rng(0)
    halves = [np.sort(rng.choice(len(train), len(train) // 2, replace=False)) for _ in range(args.models)]
    kwargs = ARCHITECTURES[args.arch]
    print(f"{args.models} reference models: {args.arch}, {len(halves[0])} images each, {args.epochs} epochs, "
          f"batch {BASE_RECIPE.batch_size}, torch threads {torch.get_num_threads()}")

    timings: dict[str, float] = {}
    for name in ("ours", "baseline"):
        start, cpu_start = time.perf_counter(), time.process_time()
        accs = []
        for seed, half in enumerate(halves):
            module = init_module(args.arch, 10, seed=seed, arch_kwargs=kwargs)
            images, labels = np.ascontiguousarray(train.images[half]), train.labels[half]
            if name == "ours":
                recipe = BASE_RECIPE.replace(epochs=args.epochs, seed=seed)
                train_classifier(module, images, labels, input_spec=INPUT_SPEC, recipe=recipe, device="cpu")
            else:
                baseline_train(module, images, labels, args.epochs, seed)
            accs.append(accuracy(module, test.images, test.labels))
        timings[name] = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        per_model = timings[name] / args.models
        print(f"{name:9s} total {timings[name]:7.2f} s (CPU {cpu:7.2f} s)   per model {per_model:6.3f} s   "
              f"test accuracy mean {np.mean(accs):.4f} (min {np.min(accs):.4f})", flush=True)
    print(f"speed-up baseline/ours: {timings['baseline'] / timings['ours']:.2f}x")


if __name__ == "__main__":
    main()
