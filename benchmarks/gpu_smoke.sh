#!/usr/bin/env bash
# GPU smoke test: every registered attack once, on CUDA, on a small public MNIST model.
#
# Runs `securitynet evaluate` once per attack (own private home, cache and SQLite store, weights read in place
# from the offline mirror ../shared/data/models/mnist, no network) and prints one line per attack: PASS/FAIL,
# wall time, and the device the store recorded for the job. Exits 1 when any attack failed, 0 when all
# passed, and 0 with a note when there is no CUDA GPU here (nothing to smoke-test).
#
# Parameters are cut down (a smoke test of the device plumbing, not a measurement); --defaults uses every
# attack's own defaults. --device cpu checks the script itself on a machine without a GPU.
#
#   benchmarks/gpu_smoke.sh [--device cuda|cuda:N|cpu] [--model CARD_ID] [--attacks GLOB] [--defaults]
#
# SECURITYNET (default: the `securitynet` next to $PYTHON, else on PATH) and PYTHON (default: python3)
# choose the installation; SECURITYNET_SHARED_DATA the offline data folder.
set -u -o pipefail

DEVICE=cuda
MODEL=file/lenet5_advertorch_clean
ATTACKS='*'
DEFAULTS=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --attacks) ATTACKS=$2; shift 2 ;;
        --defaults) DEFAULTS=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "gpu_smoke.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}
if [ -z "${SECURITYNET:-}" ]; then
    SECURITYNET=$(dirname "$(command -v "$PYTHON")")/securitynet
    [ -x "$SECURITYNET" ] || SECURITYNET=securitynet
fi

if [[ "$DEVICE" == cuda* ]]; then
    if ! gpu=$("$PYTHON" -c 'import torch, sys; ok = torch.cuda.is_available(); print(torch.cuda.get_device_name(0) if ok else torch.__version__); sys.exit(0 if ok else 1)'); then
        echo "gpu_smoke: no CUDA GPU on this machine (torch $gpu): nothing run. (--device cpu checks the script itself.)"
        exit 0
    fi
    echo "gpu_smoke: $gpu"
fi

shared=$("$PYTHON" -c 'from securitynet import config; print(config.shared_data_dir() or "")')
if [ -z "$shared" ] || [ ! -d "$shared/models/mnist" ]; then
    echo "gpu_smoke: the offline data folder (../shared/data, or SECURITYNET_SHARED_DATA) with models/mnist is absent" >&2
    exit 1
fi

work=$(mktemp -d -t sn-gpu-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
export SECURITYNET_HOME=$work/home SECURITYNET_CACHE=$work/cache SECURITYNET_DB=sqlite:///$work/smoke.sqlite
export SECURITYNET_MIRROR=$shared/models/mnist SECURITYNET_OFFLINE=1 SECURITYNET_SHARED_DATA=$shared

# Small but real work for each family: every code path that moves tensors to the device still runs.
small_params() {
    case "$1" in
        mia.lira_*|mia.rmia_*) echo "$1.n=200 $1.n_reference=2 $1.reference_epochs=1" ;;
        mia.correctness) echo "$1.n=200" ;;
        mia.label_noise) echo "$1.n=200 $1.draws=2 $1.reference_epochs=1" ;;
        mia.*) echo "$1.n=200 $1.reference_epochs=1" ;;
        stealing.knockoff) echo "$1.budget=500 $1.epochs=1 $1.curve=[1.0]" ;;
        backdoor.neural_cleanse) echo "$1.n_images=100 $1.max_epochs=2" ;;
        backdoor.abs) echo "$1.steps=10 $1.n_eval_images=100" ;;
        backdoor.mntd) echo "$1.n_shadow_clean=2 $1.n_shadow_trojaned=2 $1.shadow_train_size=500 $1.meta_epochs=5" ;;
        backdoor.strip) echo "$1.n_inputs=100 $1.n_calibration=100" ;;
    esac
}

attacks=$("$SECURITYNET" attacks list "$ATTACKS" --format json |
          "$PYTHON" -c 'import json, sys; print("\n".join(a["name"] for a in json.load(sys.stdin)))') || {
    echo "gpu_smoke: cannot list the attacks" >&2; exit 1; }

echo "gpu_smoke: every attack on $MODEL, --device $DEVICE"
failed=0
for attack in $attacks; do
    args=(evaluate --models "$MODEL" --attacks "$attack" --device "$DEVICE" --no-progress --format json)
    if [ "$DEFAULTS" = 0 ]; then
        for p in $(small_params "$attack"); do args+=(--param "$p"); done
    fi
    start_ns=$(date +%s%N)
    "$SECURITYNET" "${args[@]}" >"$work/$attack.json" 2>"$work/$attack.err"
    code=$?
    seconds=$(awk -v ns=$(($(date +%s%N) - start_ns)) 'BEGIN { printf "%.1f", ns / 1e9 }')
    # PASS only when the attack really ran: exit 0 and a job stored as done (a not-applicable attack runs none).
    verdict=$("$PYTHON" - "$attack" "$code" <<'EOF'
import sys

from securitynet.store import Store

attack, code = sys.argv[1], int(sys.argv[2])
jobs = Store().jobs_frame()
jobs = jobs[jobs.attack == attack]
done = jobs[jobs.status == "done"]
if code == 0 and len(done):
    print(f"PASS device={done.device.iloc[-1]}")
elif len(jobs):
    error = (jobs.error.iloc[-1] or "").strip().splitlines() or ["(no error stored)"]
    print(f"FAIL {error[-1][:100]}")
else:
    print("FAIL no job ran")
EOF
    ) || verdict="FAIL (store unreadable)"
    if [[ "$verdict" != PASS* ]]; then
        failed=$((failed + 1))
        [[ "$verdict" == "FAIL no job ran" ]] && verdict="FAIL $(tail -n 1 "$work/$attack.err")"
    fi
    printf '%-4s %-24s %7s s  %s\n' "${verdict%% *}" "$attack" "$seconds" "${verdict#* }"
done
echo "gpu_smoke: $failed failed"
[ "$failed" = 0 ]
