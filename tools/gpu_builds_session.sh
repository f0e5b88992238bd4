#!/usr/bin/env bash
# A lent GPU session's further call, after gpu_session.sh: which post build should be the default, whether a kernel
# change helps, and where the 2160p post kernel's instructions go. In one call of about three minutes (`run`):
#   0. with CHECK=1: benchmarks/gpu_check.py's GPU tests, kernel checks and kernel times (a changed kernel is checked
#      against the CPU reference on the GPU before anything is timed);
#   1. tools/post_build_rounds.py: the candidate builds timed in turn, several rounds (paired ratios); with
#      BASELINE=<commit>, the same builds of that commit's kernels first, in the same rounds;
#   2. Nsight Compute's source counters (executed instructions per SASS instruction) of the post kernel at 3840x2160,
#      for the 8-row builds of NCU_BLOCKS blocks an SM (default "2 3"), where `ncu` is installed.
# Writes under $OUT: gpu_check.log/.json (CHECK=1), rounds.log, post_build_rounds.json, ncu_minblk<N>.txt (the
# details page) and sass.tgz (the per-instruction tables as CSV).
# Usage (repository root): OUT=/some/dir [CHECK=1] [BASELINE=<commit>] bash tools/gpu_builds_session.sh
set -uo pipefail
: "${OUT:?set OUT to the folder for the results}"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

if [ "${CHECK:-0}" = 1 ]; then
    timeout "${CHECK_TIMEOUT:-150}" python3 benchmarks/gpu_check.py --out "$OUT" \
        --sections gpu_tests,kernel_checks,kernel_times > "$OUT/gpu_check.log" 2>&1
    echo "gpu_check rc $?"
fi

rounds_args=()
if [ -n "${BASELINE:-}" ]; then
    baseline_tree=$(mktemp -d)
    if git archive "$BASELINE" kernels | tar -x -C "$baseline_tree"; then
        rounds_args=(--baseline "$baseline_tree/kernels")
    else
        echo "baseline: commit $BASELINE not in this copy's .git; timed without it"
    fi
fi
timeout "${ROUNDS_TIMEOUT:-150}" python3 -m tools.post_build_rounds --rounds "${ROUNDS:-7}" --out "$OUT" \
    "${rounds_args[@]}" > "$OUT/rounds.log" 2>&1
echo "rounds rc $?"

if command -v ncu > /dev/null; then
    work=$(mktemp -d)
    for blocks in ${NCU_BLOCKS:-2 3}; do
        report="$work/post2160_minblk$blocks"
        timeout "${NCU_TIMEOUT:-60}" ncu --clock-control none --kernel-name regex:postprocess_staged \
            --section SourceCounters --section WarpStateStats --section LaunchStats --import-source no -f -o "$report" \
            python3 -m tools.ncu_kernels --only post --frame 3840x2160 --rows 8 \
            --define "SK_POST_MIN_BLOCKS=$blocks" > "$OUT/ncu_minblk$blocks.txt" 2>&1
        echo "ncu minblk$blocks rc $?"
        ncu -i "$report.ncu-rep" --page details >> "$OUT/ncu_minblk$blocks.txt" 2>&1
        ncu -i "$report.ncu-rep" --page source --csv --print-source sass > "$report.sass.csv" 2> "$report.err"
        echo "sass table minblk$blocks rc $? ($(wc -l < "$report.sass.csv") lines)"
    done
    tar -czf "$OUT/sass.tgz" -C "$work" --exclude '*.ncu-rep' .
fi

if [ "${CHECK:-0}" = 1 ]; then
    echo "== gpu_check =="
    tail -n 14 "$OUT/gpu_check.log"
fi
echo "== rounds =="
tail -n 20 "$OUT/rounds.log"
for blocks in ${NCU_BLOCKS:-2 3}; do
    echo "== ncu minblk$blocks =="
    grep -E "Duration|Registers Per|Executed Ipc|Warp Cycles Per Issued|inst_executed|Achieved Occ" \
        "$OUT/ncu_minblk$blocks.txt" 2>/dev/null
done
