"""Compressed variants against the FP32 model, interleaved in one test: stylize_frame end to end
at 640x360 and 1280x720, through Stylizer, every variant measured in each of five rounds.

The issue's comparisons ("x times faster than FP32 in the same run") need ratios that a drifting
machine cannot bias: this 2-core VM's speed changes by tens of percent over minutes, so variants
measured one after the other (as test_cpu_pipeline.py's rows are) can favour whichever ran in a
fast minute. Here each round measures every variant back to back; the ratio is computed per round
and the median over rounds is reported, with the spread.
"""
import sys
import time

import cv2
import numpy as np
import pytest

import sdk

VARIANTS = [v for v in ("fp32", "pruned50", "pruned25", "int8", "pruned50-int8", "pruned25-int8", "fp16")
            if v in sdk.load_package().variants]
ROUNDS, CALLS = 5, 20


@pytest.mark.parametrize("size_wh", [(640, 360), (1280, 720)], ids=["360p", "720p"])
def test_variants_against_fp32_interleaved(benchmark, size_wh):
    from trainer import photos
    frame = cv2.resize(photos.load_photo("astronaut"), size_wh, interpolation=cv2.INTER_AREA)[:, :, ::-1].copy()
    stylizers = {v: sdk.Stylizer(backend="onnxruntime", style="glow", variant=v) for v in VARIANTS}
    per_round = {v: [] for v in VARIANTS}

    def measure():
        for _ in range(ROUNDS):
            for variant, s in stylizers.items():
                for _ in range(3):
                    s(frame)
                times = []
                for _ in range(CALLS):
                    start = time.perf_counter()
                    s(frame)
                    times.append(time.perf_counter() - start)
                per_round[variant].append(float(np.median(times)) * 1e3)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for s in stylizers.values():
        s.close()
    ms = {v: float(np.median(t)) for v, t in per_round.items()}
    ratios = {v: [f / t for f, t in zip(per_round["fp32"], per_round[v])] for v in VARIANTS}
    benchmark.extra_info.update({"size": f"{size_wh[0]}x{size_wh[1]}", "median_ms": ms,
                                 "speedup_vs_fp32_median": {v: float(np.median(r)) for v, r in ratios.items()},
                                 "speedup_vs_fp32_min": {v: float(min(r)) for v, r in ratios.items()},
                                 "speedup_vs_fp32_max": {v: float(max(r)) for v, r in ratios.items()}})
    print(f"\n{size_wh[0]}x{size_wh[1]}: variant, median ms, speed-up vs fp32 (median of {ROUNDS} rounds, min-max)",
          file=sys.stderr)
    for v in VARIANTS:
        r = ratios[v]
        print(f"  {v:16s} {ms[v]:7.2f} ms  {np.median(r):5.2f}x  ({min(r):.2f}-{max(r):.2f})", file=sys.stderr)
    assert all(t > 0 for t in ms.values())
