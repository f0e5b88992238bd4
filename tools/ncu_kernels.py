"""Launch each pre/post kernel configuration of benchmarks/gpu_check.py's timing table once, for a
profiler to look at (the launches are the whole program's GPU work besides tensor set-up):

    ncu --clock-control none --kernel-name regex:process --section SpeedOfLight ... \\
        python3 -m tools.ncu_kernels

Launch order (FP16, BGR, strength 0.8): the default build's preprocess, postprocess and postprocess with
temporal smoothing for 1920x1080, then the same for 3840x2160; then PROFILED_BUILD's postprocess for
1920x1080 and 3840x2160 (the persistent build: whether its memory waits overlap its blends).

With --only, one launch instead, for a source-level profile (ncu --section SourceCounters, one kernel):

    python3 -m tools.ncu_kernels --only post --frame 3840x2160 --rows 8 --define SK_POST_MIN_BLOCKS=2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


import torch  # noqa: E402

from benchmarks.gpu_check import CHECK_SIZES, POST_BUILDS, kernel_launches  # noqa: E402
from sdk.cuda.kernels import StylizeKernels  # noqa: E402

PROFILED_BUILD = POST_BUILDS[5]  # 8 rows, persistent, 2 blocks an SM
assert "SK_POST_PERSISTENT=1" in PROFILED_BUILD[1]


def launch_one(kernel: str, frame: str, rows: int, defines: tuple[str, ...]) -> int:
    """``kernel`` (pre, post or post+temporal) of the build (rows, defines) on a W x H frame, once."""
    W, H = (int(v) for v in frame.lower().split("x"))
    kernels = StylizeKernels(torch.cuda.current_device(), post_rows=rows, defines=defines)
    launches = {name: launch for name, launch, _nbytes in kernel_launches(kernels, H, W, np.random.default_rng(0))}
    if kernel not in launches:
        raise SystemExit(f"--only {kernel!r}: expected one of {sorted(launches)}")
    launches[kernel]()
    torch.cuda.synchronize()
    print(f"launched {kernel} at {W}x{H}, {rows} rows, defines {list(defines)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="launch only this kernel (pre, post, post+temporal), once")
    parser.add_argument("--frame", default="3840x2160", help="with --only: W x H")
    parser.add_argument("--rows", type=int, default=8, help="with --only: post rows a thread")
    parser.add_argument("--define", action="append", default=[], help="with --only: a NAME=VALUE compile option")
    args = parser.parse_args()
    if args.only:
        return launch_one(args.only, args.frame, args.rows, tuple(args.define))
    rng = np.random.default_rng(0)
    launched = 0
    for kernels, names in ((StylizeKernels(torch.cuda.current_device()), ("pre", "post", "post+temporal")),
                           (StylizeKernels(torch.cuda.current_device(), post_rows=PROFILED_BUILD[0],
                                           defines=PROFILED_BUILD[1]), ("post",))):
        for H, W in CHECK_SIZES[1:]:
            for name, launch, _nbytes in kernel_launches(kernels, H, W, rng):
                if name in names:
                    launch()
                    launched += 1
    torch.cuda.synchronize()
    print(f"launched {launched} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
