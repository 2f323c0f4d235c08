"""How far this CPU's arithmetic lets the two big attacks go: their steps against a matrix product, side by side.

Neural Cleanse and target-architecture stealing at CIFAR scale spend their time in a ResNet-20's passes. This
script runs, on one thread in one process, a large float32 (and bfloat16) matrix product, which oneDNN/MKL
run at close to the core's peak, and the arithmetic of each attack's step on the same network, layout and
batch as the attack, counting multiply-accumulates (MACs) from the network's layers (`zoo.macs`):

- Neural Cleanse step: 10 classes x 32 images (320) through the ResNet-20, forward and the gradient to the
  input (about twice the forward MACs); version 1 (batch norms in place) and version 2 (folded), float32
  and version 2 under bfloat16 autocast;
- stealing step: a ResNet-20 surrogate trained on a batch of 64 (forward, input and weight gradients: about
  three times the forward MACs), SGD with momentum; a plain step, not the project's trainer, whose steps
  `stealing_speed.py` times.

It prints each step's MACs per second as a share of the matrix product's, and the rate a target time would
need: Neural Cleanse at 1/3 of version 1's step, in the same number of steps, needs ``3 x`` version 1's rate.
A needed rate well above both the matrix product's and the one the folded step already reaches cannot be had
by a better implementation of the same arithmetic.

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/compute_ceiling.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()  # warm-up: oneDNN picks and caches its kernels on the first call
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def matmul_rate(dtype: torch.dtype, repeats: int, n: int = 2048) -> float:
    """MACs per second of an n x n x n matrix product in ``dtype``."""
    a, b = torch.rand(n, n).to(dtype), torch.rand(n, n).to(dtype)
    return n**3 / median_seconds(lambda: a @ b, repeats)


def resnet20(fold: bool, example: torch.Tensor) -> torch.nn.Module:
    from pytorchcv.model_provider import get_model

    from securitynet.zoo.batchnorm_folding import folded_copy
    from securitynet.zoo.memory_format import use_channels_last

    torch.manual_seed(0)
    module = get_model("resnet20_cifar10", pretrained=False).eval()
    module.requires_grad_(False)
    use_channels_last(module, example[:2])  # as the engine runs a 2-D convolutional network
    return folded_copy(module, example[:8]) if fold else module


def neural_cleanse_step(module: torch.nn.Module, images: torch.Tensor, bfloat16: bool) -> Callable[[], object]:
    def step() -> object:
        x = images.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            out = module(x)
        loss = out.float().log_softmax(dim=1)[:, 0].sum()
        return torch.autograd.grad(loss, x)

    return step


def stealing_step(images: torch.Tensor) -> Callable[[], object]:
    from pytorchcv.model_provider import get_model

    torch.manual_seed(0)
    surrogate = get_model("resnet20_cifar10", pretrained=False).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(surrogate.parameters(), lr=0.01, momentum=0.9)
    soft_labels = torch.softmax(torch.randn(len(images), 10), dim=1)

    def step() -> object:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(surrogate(images), soft_labels)
        loss.backward()
        optimizer.step()
        return loss

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from securitynet.catalog.sources.pytorchcv import pytorchcv_card
    from securitynet.zoo.macs import card_macs

    forward_macs = card_macs(pytorchcv_card("resnet20_cifar10"))
    assert forward_macs, "the ResNet-20's MACs could not be counted"
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(320, 3, 32, 32, generator=generator).contiguous(memory_format=torch.channels_last)
    peak = {"float32": matmul_rate(torch.float32, args.repeats), "bfloat16": matmul_rate(torch.bfloat16, args.repeats)}
    print(f"threads {torch.get_num_threads()}; ResNet-20 {forward_macs / 1e6:.1f} M MACs per image forward")
    for name, rate in peak.items():
        print(f"  matrix product 2048^3 {name}: {rate / 1e9:6.1f} G MACs/s")

    nc_macs = 2 * forward_macs * len(images)
    v1 = median_seconds(neural_cleanse_step(resnet20(False, images), images, False), args.repeats)
    folded = resnet20(True, images)
    sides = {"v1 float32": (v1, "float32"),
             "v2 float32": (median_seconds(neural_cleanse_step(folded, images, False), args.repeats), "float32"),
             "v2 bfloat16": (median_seconds(neural_cleanse_step(folded, images, True), args.repeats), "bfloat16")}
    print(f"Neural Cleanse step, 320 images ({nc_macs / 1e9:.1f} G MACs):")
    for name, (seconds, dtype) in sides.items():
        rate = nc_macs / seconds
        print(f"  {name:12s} {seconds * 1e3:7.1f} ms  {rate / 1e9:6.1f} G MACs/s = {rate / peak[dtype]:.2f} of the "
              f"{dtype} product; {seconds / v1:.2f} of v1")
    needed = 3 * nc_macs / v1
    for name, (seconds, dtype) in list(sides.items())[1:]:
        print(f"  1/3 of v1's step needs {needed / 1e9:.1f} G MACs/s = {needed / peak[dtype]:.2f} x the {dtype} "
              f"product, {needed * seconds / nc_macs:.2f} x the rate {name} reaches")

    batch = images[:64].contiguous(memory_format=torch.channels_last)
    steal_macs = 3 * forward_macs * len(batch)
    seconds = median_seconds(stealing_step(batch), args.repeats)
    rate = steal_macs / seconds
    print(f"stealing training step, batch 64 ({steal_macs / 1e9:.2f} G MACs): {seconds * 1e3:.1f} ms, "
          f"{rate / 1e9:.1f} G MACs/s = {rate / peak['float32']:.2f} of the float32 product")


if __name__ == "__main__":
    main()
