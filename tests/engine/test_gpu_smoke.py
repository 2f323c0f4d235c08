"""benchmarks/gpu_smoke.sh itself: says so and passes where there is no GPU, runs attacks with --device cpu."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_smoke.sh"


def _smoke(*args: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would run every attack on it")
def test_without_a_gpu_it_says_so_and_exits_0() -> None:
    result = _smoke()
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU on this machine" in result.stdout and "nothing run" in result.stdout


@pytest.mark.slow
def test_on_the_cpu_it_prints_a_line_per_attack_and_fails_on_a_failure(shared_data) -> None:
    passed = _smoke("--device", "cpu", "--attacks", "mia.correctness")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    line = next(line for line in passed.stdout.splitlines() if "mia.correctness" in line)
    assert line.startswith("PASS") and line.endswith("device=cpu")
    failed = _smoke("--device", "cpu", "--attacks", "mia.correctness", "--model", "file/no_such_model")
    assert failed.returncode == 1
    assert any(line.startswith("FAIL mia.correctness") and "no_such_model" in line
               for line in failed.stdout.splitlines()), failed.stdout
