#!/usr/bin/env bash
# Everything a lent GPU session measures, in one call of a few minutes (the device tool's `run`):
#   1. benchmarks/gpu_check.py in full (GPU tests, kernel checks and times, generator, end to end);
#   2. the kernel times of an earlier commit's kernels on the same machine (BASELINE, default the last
#      kernels measured on a GPU), so that a kernel change is judged against the same card and clock;
#   3. Nsight Compute on each kernel launch, where `ncu` is installed.
# Writes under $OUT: gpu_check.log/.json, baseline/kernel_times.log/.json, ncu.txt; prints the tables last.
# Usage (repository root): OUT=/some/dir bash tools/gpu_session.sh
# The three parts stop at 250, 120 and 100 s (CHECK_TIMEOUT, BASELINE_TIMEOUT, NCU_TIMEOUT): under 8 minutes in all
# (the ninth session's H200 call took 160 s in all). The baseline must be a commit of the session's starting .git:
# the device copy carries that, not the working tree's newer commits.
set -uo pipefail
: "${OUT:?set OUT to the folder for the results}"
BASELINE=${BASELINE:-7821d89}  # v8, the kernels the ninth session measured on the H200
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

# The device's copy of the repository carries .git, so the earlier kernels come from there. Their one build compiles
# in the background (into the shared kernel cache) while gpu_check compiles and checks this tree's builds.
baseline_tree=$(mktemp -d)
baseline_ok=0
if git archive "$BASELINE" sdk kernels benchmarks | tar -x -C "$baseline_tree"; then
    baseline_ok=1
    (cd "$baseline_tree" && python3 -c 'import sys, torch; sys.path.insert(0, "."); from sdk.cuda.compiler import compile_cubin
major, minor = torch.cuda.get_device_capability(0); compile_cubin(f"sm_{major}{minor}")' \
        > "$OUT/baseline_compile.log" 2>&1) &
fi

timeout "${CHECK_TIMEOUT:-250}" python3 benchmarks/gpu_check.py --out "$OUT" --frames 300 > "$OUT/gpu_check.log" 2>&1
echo "gpu_check rc $?"
wait

# Only the baseline's default build is timed (time_kernels, as gpu_check's kernel_times section calls it; the sweep
# of other builds is gpu_check's post_builds section).
if [ "$baseline_ok" = 1 ]; then
    mkdir -p "$OUT/baseline"
    (cd "$baseline_tree" && timeout "${BASELINE_TIMEOUT:-120}" python3 - "$OUT/baseline/kernel_times.json" \
        > "$OUT/baseline/kernel_times.log" 2>&1 <<'PY'
import json, sys
import numpy as np, torch
sys.path.insert(0, ".")
from benchmarks.gpu_check import copy_bandwidth, time_kernels
from sdk.cuda.kernels import StylizeKernels
bandwidth = copy_bandwidth()
rows = time_kernels(StylizeKernels(torch.cuda.current_device()), bandwidth, np.random.default_rng(0))
json.dump({"d2d_copy_GBps": bandwidth / 1e9, "kernel_times": rows}, open(sys.argv[1], "w"), indent=1)
print(f"copy {bandwidth / 1e9:.1f} GB/s")
for r in rows:
    print(f"{r['kernel']:>13} {r['frame']:>10} warm {r['ms_warm_l2']:.4f} cold {r['ms']:.4f} ms "
          f"({r['x_floor']:.2f}x floor), copy {r['copy_same_bytes_cold_ms']:.4f}")
PY
    )
    echo "baseline ($BASELINE) rc $?"
else
    echo "baseline: commit $BASELINE not in this copy's .git; skipped"
fi

if command -v ncu > /dev/null; then
    timeout "${NCU_TIMEOUT:-100}" ncu --clock-control none --kernel-name regex:process --section SpeedOfLight \
        --section Occupancy --section LaunchStats --section WarpStateStats \
        --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum' \
        python3 -m tools.ncu_kernels > "$OUT/ncu.txt" 2>&1
    echo "ncu rc $?"
fi

echo "== baseline ($BASELINE) kernel times =="
cat "$OUT/baseline/kernel_times.log" 2>/dev/null
echo "== this tree =="
tail -n 60 "$OUT/gpu_check.log"
