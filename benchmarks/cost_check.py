"""Is `securitynet evaluate --dry-run --cost` right? Its estimate beside the real run's time, same command.

Four public MNIST models x three attacks from an empty home (fresh posterior cache and store): the estimate
is asked first, then the same evaluate command runs and its wall time (the whole command, start-up and
imports included, as a user waits for it) is compared. Target: estimate / actual within [0.5, 2].

    .venv/bin/python benchmarks/cost_check.py
    .venv/bin/python benchmarks/cost_check.py --attacks 'mia.loss,backdoor.strip' --models 'file/*'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MODELS = "file/lenet5_advertorch_clean,file/lenet5_advertorch_advtrained,file/mnistnet_shrinkbench," \
         "file/badnet_verazuo_mnist"
ATTACKS = "annotation.accuracy,mia.loss,backdoor.strip"


def securitynet(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("securitynet"))  # the console script of this environment
    done = subprocess.run([command, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"securitynet {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--attacks", default=ATTACKS)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs {SHARED} (the public MNIST models and MNIST)")
    with tempfile.TemporaryDirectory(prefix="sn-cost-check-") as home:
        env = {**os.environ, "SECURITYNET_HOME": home, "SECURITYNET_CACHE": f"{home}/cache",
               "SECURITYNET_DB": f"sqlite:///{home}/check.sqlite",
               "SECURITYNET_MIRROR": str(SHARED / "models" / "mnist"), "PYTHONPATH": str(ROOT / "src")}
        base = ["evaluate", "--models", args.models, "--attacks", args.attacks]
        asked = time.perf_counter()
        estimate = json.loads(securitynet([*base, "--dry-run", "--cost", "--format", "json"], env).stdout)
        estimate_took = time.perf_counter() - asked
        start = time.perf_counter()
        securitynet([*base, "--no-progress"], env)
        actual = time.perf_counter() - start
    predicted = estimate["total_seconds"]
    print(f"models: {args.models}\nattacks: {args.attacks}")
    for row in estimate["attacks"]:
        print(f"  {row['attack']:24s} {row['jobs']:3d} jobs  estimated {row['seconds'] or 0:8.1f} s")
    print(f"  model loading            estimated {estimate['load_seconds']:8.1f} s")
    print(f"estimate {predicted:.1f} s (asked in {estimate_took:.1f} s; machine x{1 / estimate['speed_factor']:.2f} "
          f"the measured one); actual run {actual:.1f} s; estimate / actual = {predicted / actual:.2f} "
          f"(target 0.5-2); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
