"""Launch each pre/post kernel configuration of benchmarks/gpu_check.py's timing table once, for a
profiler to look at (the launches are the whole program's GPU work besides tensor set-up):

    ncu --clock-control none --kernel-name regex:process --section SpeedOfLight ... \\
        python3 benchmarks/ncu_kernels.py

Launch order, for 1920x1080 then 3840x2160 (FP16, BGR, strength 0.8): preprocess, postprocess,
postprocess with temporal smoothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.gpu_check import CHECK_SIZES, kernel_launches  # noqa: E402
from sdk.cuda.kernels import StylizeKernels  # noqa: E402


def main() -> int:
    rng = np.random.default_rng(0)
    kernels = StylizeKernels(torch.cuda.current_device())
    launched = 0
    for H, W in CHECK_SIZES[1:]:
        for _name, launch, _nbytes in kernel_launches(kernels, H, W, rng):
            launch()
            launched += 1
    torch.cuda.synchronize()
    print(f"launched {launched} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
