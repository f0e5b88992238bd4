"""Which post kernel build should be the default: a few builds timed in turn, several rounds, on one GPU.

    python3 -m tools.post_build_rounds [--rounds 7] [--out DIR] [--baseline OTHER/kernels]

gpu_check's sweep times each build once, and one build's time varies by up to about 7% between runs
(docs/gpu-tuning/kernel_tuning.md), about as much as the builds differ. Here every round times every build
(gpu_check.time_kernels: CUDA graphs, cold and warm), in a shifted order each round so that none always runs first,
and each build's time is set against the first build's in the same round (a paired ratio). With --baseline, the same
builds of another tree's kernels (an older commit's kernels/ folder, with the same launch interface) come first, so
that a kernel change is judged in the same rounds. Prints a table last and writes post_build_rounds.json under --out
(default $OUT).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The builds compared, (rows a thread, compile options); the first is the reference of the ratios. 3 blocks an SM was
# the default through the ninth session, 2 after it (kernel_tuning.md: 4 rows and the L2 prefetch were slower).
BUILDS = ((8, ("SK_POST_MIN_BLOCKS=3",)), (8, ("SK_POST_MIN_BLOCKS=2",)))
KERNELS = ("post", "post+temporal")


def round_order(builds: int, round_index: int) -> list[int]:
    """The builds' order in a round: shifted by one each round."""
    return [(i + round_index) % builds for i in range(builds)]


def summarize(samples: dict) -> list[dict]:
    """samples[(build, kernel, frame)] = [(cold ms, warm ms), ...], one per round, rounds aligned across builds.
    Per build, kernel and frame: the median, least and most cold time, the median warm time, and the median over
    rounds of cold time over the first build's cold time in the same round."""
    rows = []
    reference = next(iter(samples))[0]
    for (build, kernel, frame), times in samples.items():
        cold = np.array([t[0] for t in times])
        base = np.array([t[0] for t in samples[(reference, kernel, frame)]])
        rows.append({"build": build, "kernel": kernel, "frame": frame, "rounds": len(times),
                     "cold_ms_median": round(float(np.median(cold)), 4), "cold_ms_min": round(float(cold.min()), 4),
                     "cold_ms_max": round(float(cold.max()), 4),
                     "warm_ms_median": round(float(np.median([t[1] for t in times])), 4),
                     "cold_vs_first_median": round(float(np.median(cold / base)), 3)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=os.environ.get("OUT", str(ROOT / ".benchmarks")))
    parser.add_argument("--baseline", type=Path, help="another kernels/ folder whose builds are timed first")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to time here")
        return 0
    from benchmarks.gpu_check import build_label, copy_bandwidth, time_kernels
    from sdk.cuda import compiler
    from sdk.cuda.kernels import StylizeKernels

    major, minor = torch.cuda.get_device_capability(0)
    compiler.compile_builds(f"sm_{major}{minor}", BUILDS)
    builds, names = [], []
    # With --baseline its builds come first, compiled here one by one: compile_builds' processes read this tree's.
    sources = ([("base ", args.baseline.resolve())] if args.baseline else []) + [("", compiler.KERNEL_DIR)]
    own_dir = compiler.KERNEL_DIR
    for prefix, kernel_dir in sources:
        compiler.KERNEL_DIR = kernel_dir
        try:
            for rows, defines in BUILDS:
                builds.append(StylizeKernels(torch.cuda.current_device(), post_rows=rows, defines=defines))
                names.append(f"{prefix}{rows} {build_label(' '.join(defines))}")
        finally:
            compiler.KERNEL_DIR = own_dir
    bandwidth = copy_bandwidth()
    samples: dict = {}
    for index in range(args.rounds):
        for b in round_order(len(builds), index):
            # The same frames every round and build (seed 0), so that only the build and the moment differ.
            for r in time_kernels(builds[b], bandwidth, np.random.default_rng(0), names=KERNELS):
                samples.setdefault((names[b], r["kernel"], r["frame"]), [None] * args.rounds)[index] = \
                    (r["ms"], r["ms_warm_l2"])
        print(f"round {index + 1} of {args.rounds} done", flush=True)
    rows = summarize(samples)  # round 0 ran the builds in order, so the first build's rows come first
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "post_build_rounds.json").write_text(json.dumps(
        {"gpu": torch.cuda.get_device_name(0), "d2d_copy_GBps": round(bandwidth / 1e9, 1), "rounds": args.rounds,
         "builds": names, "baseline": str(args.baseline) if args.baseline else None, "rows": rows}, indent=1))
    print(f"\n{torch.cuda.get_device_name(0)}, copy {bandwidth / 1e9:.0f} GB/s; {args.rounds} rounds, FP16 BGR, "
          f"cold = after evicting L2; ratio = median over rounds of cold / the first build's cold in the same round")
    print(f"{'build':>22} {'kernel':>13} {'frame':>10} {'cold med':>9} {'min':>8} {'max':>8} {'warm med':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['build']:>22} {r['kernel']:>13} {r['frame']:>10} {r['cold_ms_median']:9.4f} {r['cold_ms_min']:8.4f} "
              f"{r['cold_ms_max']:8.4f} {r['warm_ms_median']:9.4f} {r['cold_vs_first_median']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
