#!/usr/bin/env bash
# A lent GPU session's second call, after gpu_session.sh: which post build should be the default, and where the
# 2160p post kernel's instructions go. In one call of about three minutes (the device tool's `run`):
#   1. benchmarks/post_build_rounds.py: the candidate builds timed in turn, several rounds (paired ratios);
#   2. Nsight Compute's source counters (executed instructions per SASS instruction) of the post kernel at 3840x2160,
#      for the 2-block and the 3-block builds of 8 rows, where `ncu` is installed.
# Writes under $OUT: rounds.log, post_build_rounds.json, ncu_<build>.txt (the details page) and sass.tgz (the
# per-instruction tables as CSV). Usage (repository root): OUT=/some/dir bash benchmarks/gpu_builds_session.sh
set -uo pipefail
: "${OUT:?set OUT to the folder for the results}"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

timeout "${ROUNDS_TIMEOUT:-150}" python3 benchmarks/post_build_rounds.py --rounds "${ROUNDS:-7}" --out "$OUT" \
    > "$OUT/rounds.log" 2>&1
echo "rounds rc $?"

if command -v ncu > /dev/null; then
    work=$(mktemp -d)
    for blocks in 2 3; do
        report="$work/post2160_minblk$blocks"
        timeout "${NCU_TIMEOUT:-60}" ncu --clock-control none --kernel-name regex:postprocess_staged \
            --section SourceCounters --section WarpStateStats --section LaunchStats --import-source no -f -o "$report" \
            python3 benchmarks/ncu_kernels.py --only post --frame 3840x2160 --rows 8 \
            --define "SK_POST_MIN_BLOCKS=$blocks" > "$OUT/ncu_minblk$blocks.txt" 2>&1
        echo "ncu minblk$blocks rc $?"
        ncu -i "$report.ncu-rep" --page details >> "$OUT/ncu_minblk$blocks.txt" 2>&1
        ncu -i "$report.ncu-rep" --page source --csv --print-source sass > "$report.sass.csv" 2> "$report.err"
        echo "sass table minblk$blocks rc $? ($(wc -l < "$report.sass.csv") lines)"
    done
    tar -czf "$OUT/sass.tgz" -C "$work" --exclude '*.ncu-rep' .
fi

echo "== rounds =="
tail -n 20 "$OUT/rounds.log"
for blocks in 2 3; do
    echo "== ncu minblk$blocks =="
    grep -E "Duration|Registers Per|Executed Ipc|Warp Cycles Per Issued|inst_executed|Achieved Occ" \
        "$OUT/ncu_minblk$blocks.txt" 2>/dev/null
done
