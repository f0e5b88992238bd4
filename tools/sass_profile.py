"""Where a kernel's executed instructions go, from Nsight Compute's per-instruction table.

    ncu -i REPORT.ncu-rep --page source --csv --print-source sass > TABLE.csv   (on the GPU machine:
                                                                                  tools/gpu_builds_session.sh)
    python -m tools.sass_profile TABLE.csv [--top 16] [--warps N]

Splits the SASS listing into runs of consecutive instructions executed equally often (straight-line code: a loop
body, a prologue) and prints the runs that executed the most warp instructions, with their share of the kernel's
executed instructions and of its warp-stall samples, how often each warp ran them (with --warps, the launch's
warps), and their commonest opcodes. docs/gpu-tuning/kernel_tuning.md reads the post kernel's phases off it.
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

from tools.sass_loops import opcode


def read_table(path: Path) -> list[tuple[str, int, int]]:
    """(source, warp instructions executed, stall samples) per SASS instruction, in address order."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header_at = next(i for i, row in enumerate(rows) if "Source" in row and "Instructions Executed" in row)
    header = rows[header_at]
    source, executed = header.index("Source"), header.index("Instructions Executed")
    stalls = header.index("Warp Stall Sampling (All Samples)") if "Warp Stall Sampling (All Samples)" in header else None
    return [(row[source].strip(), int(row[executed] or 0), int(row[stalls] or 0) if stalls is not None else 0)
            for row in rows[header_at + 1:] if len(row) > executed]


def straight_runs(table: list[tuple[str, int, int]]) -> list[dict]:
    """Consecutive instructions with the same execution count, a branch or exit ending a run."""
    runs: list[dict] = []
    for index, (source, executed, stalls) in enumerate(table):
        previous = table[index - 1][0] if index else ""
        if runs and executed == runs[-1]["count"] and opcode(previous, modifiers=False) not in ("BRA", "EXIT"):
            run = runs[-1]
        else:
            run = {"first": index, "count": executed, "length": 0, "stalls": 0, "opcodes": Counter()}
            runs.append(run)
        run["length"] += 1
        run["stalls"] += stalls
        run["opcodes"][opcode(source, modifiers=False)] += 1
    return runs


def summary(table: list[tuple[str, int, int]], top: int, warps: int | None) -> list[str]:
    runs = straight_runs(table)
    executed = sum(r["count"] * r["length"] for r in runs)
    stalls = sum(r["stalls"] for r in runs) or 1
    lines = [f"{executed:,} warp instructions executed, {sum(r['stalls'] for r in runs):,} stall samples, "
             f"{len(table):,} instructions in the listing"]
    for r in sorted(runs, key=lambda r: -r["count"] * r["length"])[:top]:
        per_warp = f" {r['count'] / warps:6.2f} a warp" if warps else ""
        common = ", ".join(f"{op} {n}" for op, n in r["opcodes"].most_common(5))
        lines.append(f"#{r['first']:<6} {r['length']:4} instructions{per_warp}: "
                     f"{r['count'] * r['length'] / executed:6.1%} of executed, {r['stalls'] / stalls:6.1%} of stalls  "
                     f"({common})")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path, help="ncu --page source --csv --print-source sass output")
    parser.add_argument("--top", type=int, default=16)
    parser.add_argument("--warps", type=int, help="the launch's warps (blocks x warps a block), for runs a warp")
    args = parser.parse_args(argv)
    print("\n".join(summary(read_table(args.table), args.top, args.warps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
