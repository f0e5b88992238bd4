"""Would INT8 be faster on the ONNX Runtime CPU if the style were folded into the weights?

The shipped INT8 file keeps the style vector as an input, so every per-style scale and shift sits
between quantized convolutions as float Mul/Add with Dequantize/Quantize pairs around it: about
2.3x slower than FP32 (test_compression.py). This probe removes that cause: one style is made a
constant, ORT's basic graph optimizations fold every Mul/Add into the convolutions (21 convs,
ReLUs, 6 residual adds and 2 resizes remain), and that float graph is quantized two ways:

* ``s8``: the shipped settings (symmetric INT8 activations and weights, convolutions only), the
  ones TensorRT's parser takes;
* ``u8-all``: uint8 activations (ORT's preferred x86 form) and every operator quantized, so that
  ORT fuses the whole graph into QLinearConv/QLinearAdd in NHWC;
* ``u8-body``: as ``u8-all`` but the two nearest-neighbour resizes and the last convolution (16 -> 3
  channels at full resolution) stay float: a profile of ``u8-all`` shows those three slower in
  uint8 than in float (ORT's uint8 Resize and a 3-channel int8 GEMM).

Each is timed against the same folded FP32 graph, interleaved in rounds (the ratio per round, the
median over rounds), as bare sessions at 640x360 with the SDK's thread and allocator settings.
"""
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import sdk

ROUNDS, CALLS = 5, 20


def folded_float(blob: bytes, style: np.ndarray, path: Path) -> Path:
    import onnxruntime as ort

    from sdk.onnx_edit import input_to_constant

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # constant folding + Conv/Mul/Add fusion
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(input_to_constant(blob, "style", style), options, providers=["CPUExecutionProvider"])
    return path


def quantized(src: Path, dst: Path, feeds: list[np.ndarray], mode: str) -> Path:
    import onnx

    from trainer.compress import quantize_qdq

    unsigned = mode.startswith("u8")
    nodes = onnx.load(str(src)).graph.node
    keep_float = []
    if mode == "u8-body":
        keep_float = [n.name for n in nodes if n.op_type == "Resize"] + [[n.name for n in nodes if n.op_type == "Conv"][-1]]
    dst.write_bytes(quantize_qdq(src.read_bytes(), ({"image": f} for f in feeds), unsigned_activations=unsigned,
                                 op_types=None if unsigned else ("Conv",), exclude=keep_float))
    return dst


def test_style_folded_int8_against_folded_fp32(benchmark):
    import onnxruntime as ort

    from sdk.backends.onnxruntime import _keep_frame_buffers_on_the_heap
    from trainer.compress import calibration_inputs

    _keep_frame_buffers_on_the_heap()  # as the SDK runs: frame-sized buffers off mmap
    package = sdk.load_package()
    n = len(package.style_names)
    style = np.eye(n, dtype=np.float32)[0].reshape(1, n, 1, 1)
    feeds = [f["image"] for f in calibration_inputs(n) if np.array_equal(f["style"], style)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fp32 = folded_float((package.path / "generator.onnx").read_bytes(), style, tmp / "fp32.onnx")
        models = {"fp32 folded": fp32,
                  "s8 folded": quantized(fp32, tmp / "s8.onnx", feeds, "s8"),
                  "u8-all folded": quantized(fp32, tmp / "u8.onnx", feeds, "u8-all"),
                  "u8-body folded": quantized(fp32, tmp / "u8body.onnx", feeds, "u8-body")}
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        sessions = {k: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
                    for k, p in models.items()}
    x = feeds[0]
    outputs = {k: s.run(None, {"image": x})[0] for k, s in sessions.items()}
    per_round = {k: [] for k in sessions}

    def measure():
        for _ in range(ROUNDS):
            for name, session in sessions.items():
                for _ in range(3):
                    session.run(None, {"image": x})
                times = []
                for _ in range(CALLS):
                    start = time.perf_counter()
                    session.run(None, {"image": x})
                    times.append(time.perf_counter() - start)
                per_round[name].append(float(np.median(times)) * 1e3)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    ms = {k: float(np.median(t)) for k, t in per_round.items()}
    ratios = {k: [f / t for f, t in zip(per_round["fp32 folded"], per_round[k])] for k in sessions}
    # Output difference in uint8 steps on a real photo: the quantized graphs must still be the model.
    steps = {k: float(np.abs(outputs[k] - outputs["fp32 folded"]).max() * 127.5) for k in sessions}
    benchmark.extra_info.update({"median_ms": ms, "speedup_vs_fp32_median": {k: float(np.median(r)) for k, r in ratios.items()},
                                 "max_abs_diff_uint8_steps": steps})
    print(f"\n640x360 style-folded graphs: median ms, speed-up vs folded fp32 (median of {ROUNDS} rounds, min-max), "
          "max |diff| in uint8 steps", file=sys.stderr)
    for k in sessions:
        r = ratios[k]
        print(f"  {k:14s} {ms[k]:7.2f} ms  {np.median(r):5.2f}x  ({min(r):.2f}-{max(r):.2f})  {steps[k]:5.1f}",
              file=sys.stderr)
    assert all(v < 16 for v in steps.values()), steps
