"""The cost table: seconds and peak memory per model of every attack at its default parameters.

Two reference models: the public LeNet-5 (`file/lenet5_advertorch_clean`, MNIST, real weights) and a
CIFAR-10 ResNet-20 (`pytorchcv/resnet20_cifar10`, pytorchcv's architecture, random weights: no attack's
cost here depends on what the weights learned, and the published weights cannot be downloaded offline).
Each (model, attack) runs through the engine in a child process of its own, with a fresh cache and store,
so its time includes loading the model and computing every posterior it needs, and its peak RSS
(`ru_maxrss`) is its own. What a worker process pays once (imports, reading a dataset, an attack's own
caches such as reference models) is measured apart from what each further model costs (see `child`).
A child runs on one thread and its figure is CPU seconds (user + system), which a machine busy with other
work hardly changes; it also times the calibration workload of `engine/cost.py` on the CPU clock, and the
figures are kept in those units. `securitynet evaluate --dry-run --cost` times the
same workload on the wall clock and so rescales them to the machine as it is when the estimate is asked for.

CIFAR-10 training batches are not in ../shared/data (only the test set is): the child reads a CIFAR-10
folder made of the shared test set written five times as the training batches, so every split has the
real size (50,000 / 10,000) and real images. Members and non-members then share images, which changes
what an attack finds, not what it costs.

    .venv/bin/python benchmarks/costs.py                  # measure everything, write engine/costs.json
    .venv/bin/python benchmarks/costs.py --attacks 'mia.*' --references lenet5 --no-write
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REFERENCES = {
    "lenet5": {"card": "file/lenet5_advertorch_clean", "pretrained": True, "dataset": "mnist"},
    "resnet20": {"card": "pytorchcv/resnet20_cifar10", "pretrained": False, "dataset": "cifar10"},
}
LOAD = "load"  # the child that only loads the model and predicts a batch of its test split
WARM_BELOW = 150.0  # CPU seconds: a cheaper attack is run twice, so its data's reading is paid once per dataset


def cifar_with_training_batches(folder: Path) -> Path:
    """A CIFAR-10 folder whose five training batches are the shared test set, as torchvision lays it out."""
    source = SHARED / "cifar10" / "cifar-10-batches-py"
    target = folder / "cifar-10-batches-py"
    target.mkdir(parents=True, exist_ok=True)
    test = pickle.loads((source / "test_batch").read_bytes(), encoding="bytes")
    for name in ("test_batch", "batches.meta"):
        (target / name).write_bytes((source / name).read_bytes())
    for i in range(1, 6):
        batch = {b"batch_label": f"training batch {i} of 5".encode(), b"labels": test[b"labels"],
                 b"data": test[b"data"], b"filenames": test[b"filenames"]}
        (target / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    return folder


def child(reference: str, attack: str) -> None:
    """Run one (model, attack) through the engine in this process and print its figures as JSON.

    The clock starts after the imports; the model load is timed as a worker's second model (its data read and
    the loader's first model before the clock): a worker process pays those once, not per model. A run's data
    is read once per process too, so an attack's cold run (cold caches, its data read for the first time) is
    followed by a warm one in the same process, without this model's posteriors: the warm run is what each
    further model of the dataset costs, the difference is paid once per dataset. Only attacks far above the
    data's reading (``WARM_BELOW`` CPU seconds) that built no cache of their own skip the warm run.
    """
    import torch

    from securitynet import config
    from securitynet.data import load_split
    from securitynet.engine.cost import calibration_seconds
    from securitynet.engine.run import evaluate  # noqa: F401  (imported before the clock: once per process)
    from securitynet.zoo.loader import load_target

    # One thread and the process's CPU clock: the figure then hardly depends on how busy the machine is.
    torch.set_num_threads(1)
    ref = REFERENCES[reference]
    calibration = calibration_seconds(clock="cpu")
    if attack == LOAD:
        images = load_split(ref["dataset"], "test").images[:64]
        load_target(ref["card"], pretrained=ref["pretrained"]).predict_proba(images)  # the loader's own imports
        start = time.process_time()  # what each further model costs a worker
        load_target(ref["card"], pretrained=ref["pretrained"]).predict_proba(images)
        seconds, first = time.process_time() - start, 0.0
    else:
        load_target(ref["card"], pretrained=ref["pretrained"])  # weights into the cache before the listing
        before = _cache_folders(config.cache_dir())
        seconds = _cpu_seconds_of_evaluate(ref, attack, force=False)
        first = 0.0
        if _cache_folders(config.cache_dir()) - before or seconds < WARM_BELOW:
            shutil.rmtree(config.cache_dir() / "posteriors", ignore_errors=True)
            warm = _cpu_seconds_of_evaluate(ref, attack, force=True)
            seconds, first = warm, max(seconds - warm, 0.0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Timed again at the end, so the child's calibration sees more of the machine's state during its work.
    calibration = (calibration + calibration_seconds(clock="cpu")) / 2
    print(json.dumps({"seconds": seconds, "first_seconds": first, "calibration": calibration, "peak_rss_mib": peak}))


def _cache_folders(root: Path) -> set[str]:
    """The cache's folders other than the posterior cache, two levels deep."""
    if not root.is_dir():
        return set()
    return {str(p.relative_to(root)) for p in root.glob("*/*") if p.parts[len(root.parts)] != "posteriors"}


def _cpu_seconds_of_evaluate(ref: dict[str, Any], attack: str, *, force: bool) -> float:
    """Run the attack on the reference model through the engine; the CPU seconds it took."""
    from securitynet.engine.run import evaluate

    start = time.process_time()
    frame = evaluate(ref["card"], [attack], pretrained=ref["pretrained"], force=force)
    problems = frame.attrs["failed"] + frame.attrs["not_applicable"]
    if problems:
        problem = problems[0]
        raise SystemExit(f"{attack} on {ref['card']}: {problem.get('error') or problem.get('reason')}")
    return time.process_time() - start


def measure(reference: str, attack: str, data_dir: Path) -> dict[str, float] | None:
    with tempfile.TemporaryDirectory(prefix="sn-costs-") as home:
        env = {**os.environ, "SECURITYNET_HOME": home, "SECURITYNET_CACHE": f"{home}/cache",
               "SECURITYNET_DB": f"sqlite:///{home}/costs.sqlite",
               "SECURITYNET_DATA": f"{data_dir}:{SHARED}", "SECURITYNET_MIRROR": str(SHARED / "models" / "mnist"),
               "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run([sys.executable, __file__, "--child", reference, attack], env=env,
                              capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["?"])[-1]
        print(f"  {attack} on {reference}: not measured ({last})", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_all(pairs: list[tuple[str, str]], data_dir: Path, done_file: Path,
                workers: int) -> tuple[dict[tuple[str, str], dict[str, float]], float | None]:
    """Every (reference, attack) in its own child, ``workers`` at a time; each figure appended to ``done_file``
    as it comes, so a rerun resumes.

    The figures are the children's CPU seconds as measured, and their unit the median of the children's own
    calibrations (None when no child ran). Not each figure scaled by its own child's calibration: a
    calibration takes half a second, an attack minutes, and on this shared machine the calibrations of one
    run spread over 2.3x while the attacks' CPU seconds agreed: the same reference models, trained in the
    children of seven membership attacks, took 26-29 CPU seconds on MNIST and 31-36 on CIFAR-10 as measured,
    25-54 and 41-55 scaled by each child's calibration (2026-12-03).
    """
    done: dict[tuple[str, str], dict[str, float]] = {}
    if done_file.is_file():
        for line in done_file.read_text().splitlines():
            row = json.loads(line)
            if "unit" in row:  # scaled by an earlier version of this script: measured again
                continue
            done[(row["reference"], row["attack"])] = row
    todo = [pair for pair in pairs if pair not in done and workers > 0]

    def one(pair: tuple[str, str]) -> None:
        reference, attack = pair
        measured = measure(reference, attack, data_dir)
        if measured is None:
            return
        row = {"reference": reference, "attack": attack, **measured}
        done[pair] = row
        with done_file.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(f"{reference}: {attack:24s} {row['seconds']:8.1f} s (+{row['first_seconds']:.0f} s once) "
              f"{row['peak_rss_mib']:6.0f} MiB (calibration {1e3 * measured['calibration']:.0f} ms)", flush=True)

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        list(pool.map(one, todo))
    calibrations = [row["calibration"] for row in done.values()]
    return done, statistics.median(calibrations) if calibrations else None


def merged_into(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The old table with the new run's attack figures, converted from the new run's unit into the old one's."""
    scale = old["calibration"]["seconds"] / new["calibration"]["seconds"]
    for attack, per_reference in new["attacks"].items():
        for reference, figure in per_reference.items():
            old["attacks"].setdefault(attack, {})[reference] = {
                **figure, "seconds": round(figure["seconds"] * scale, 3),
                "first_seconds": round(figure["first_seconds"] * scale, 3)}
    old["measured"].setdefault("updates", []).append({**new["measured"], "attacks": sorted(new["attacks"])})
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("REFERENCE", "ATTACK"), help=argparse.SUPPRESS)
    parser.add_argument("--attacks", default="*", help="attack globs, comma separated")
    parser.add_argument("--references", default=",".join(REFERENCES), help="lenet5,resnet20")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "securitynet" / "engine" / "costs.json")
    parser.add_argument("--no-write", action="store_true", help="print the figures, keep the table as it is")
    parser.add_argument("--workers", type=int, default=3, help="children at a time (0: only write the table "
                        "from the figures measured so far)")
    parser.add_argument("--update", action="store_true",
                        help="replace only the measured attacks' figures in the table at --out (rescaled to its unit)")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(ROOT / "src"))
    from securitynet.attacks import list_attacks

    if not SHARED.is_dir():
        raise SystemExit(f"needs {SHARED} (the public LeNet-5, MNIST and the CIFAR-10 test set)")
    globs = [g.strip() for g in args.attacks.split(",")]
    attacks = [cls.name for cls in list_attacks() if any(fnmatch.fnmatch(cls.name, g) for g in globs)]
    references = [r.strip() for r in args.references.split(",")]
    table = {"measured": {"date": date.today().isoformat(), "command": "benchmarks/costs.py",
                          "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]},
             "calibration": {}, "references": {}, "load": {}, "attacks": {}}
    done_file = args.out.with_suffix(".partial.jsonl")
    pairs = [(reference, item) for reference in references for item in [LOAD, *attacks]]
    with tempfile.TemporaryDirectory(prefix="sn-costs-data-") as data:
        figures, unit = measure_all(pairs, cifar_with_training_batches(Path(data)), done_file, args.workers)
    if unit is None:
        raise SystemExit("nothing measured")
    table["calibration"]["seconds"] = unit
    from securitynet.catalog.builtin import find_card
    from securitynet.zoo.macs import card_macs

    for reference in references:
        if (reference, LOAD) not in figures:
            continue  # not measured (yet): the table then rests on the other reference alone
        load = figures[(reference, LOAD)]["seconds"]
        macs = card_macs(find_card(REFERENCES[reference]["card"]))
        table["references"][reference] = {**REFERENCES[reference], "macs": macs}
        table["load"][reference] = {"seconds": round(load, 3)}
        for attack in attacks:
            row = figures.get((reference, attack))
            if row is not None:  # less the one model load a run pays once per model, not per attack
                table["attacks"].setdefault(attack, {})[reference] = {
                    "seconds": round(max(row["seconds"] - load, 0.01), 3),
                    "first_seconds": round(row["first_seconds"], 3), "peak_rss_mib": round(row["peak_rss_mib"], 1)}
    if args.update:
        table = merged_into(json.loads(args.out.read_text()), table)
    if not args.no_write:
        args.out.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
