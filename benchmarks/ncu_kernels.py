"""Launch each pre/post kernel configuration of benchmarks/gpu_check.py's timing table once, for a
profiler to look at (the launches are the whole program's GPU work besides tensor set-up):

    ncu --clock-control none --kernel-name regex:process_f16 --section SpeedOfLight ... \\
        python3 benchmarks/ncu_kernels.py

Launch order: preprocess 1080p, postprocess 1080p, preprocess 2160p, postprocess 2160p,
postprocess 2160p with temporal smoothing (FP16, BGR, strength 0.8).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sdk import frames  # noqa: E402
from sdk.cuda.kernels import StylizeKernels  # noqa: E402


def main() -> int:
    rng = np.random.default_rng(0)
    kernels = StylizeKernels(torch.cuda.current_device())
    stream = torch.cuda.current_stream().cuda_stream
    for H, W in ((1080, 1920), (2160, 3840)):
        h, w = frames.working_size(H, W, 4, 1280, 16)
        frame = torch.from_numpy(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).cuda()
        image = torch.empty((1, 3, h, w), dtype=torch.float16, device="cuda")
        styled = torch.from_numpy(rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float16)).cuda()
        out = torch.empty_like(frame)
        kernels.preprocess(frame.data_ptr(), frame.stride(0), H, W, "bgr", image.data_ptr(), h, w, True, stream)
        kernels.postprocess(styled.data_ptr(), h, w, frame.data_ptr(), frame.stride(0), H, W, "bgr", 0.8,
                            out.data_ptr(), out.stride(0), True, stream=stream)
        if H == 2160:
            previous, previous_input = torch.empty_like(frame), frame.clone()
            kernels.postprocess(styled.data_ptr(), h, w, frame.data_ptr(), frame.stride(0), H, W, "bgr", 0.8,
                                out.data_ptr(), out.stride(0), True, previous.data_ptr(), previous.stride(0),
                                previous_input.data_ptr(), previous_input.stride(0), 0.5, stream=stream)
    torch.cuda.synchronize()
    print("launched 5 kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
