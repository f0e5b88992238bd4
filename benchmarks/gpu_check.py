"""GPU check: the suite's GPU tests, kernels against the CPU reference, kernel times against the
memory floor, and end-to-end throughput against a naive PyTorch pipeline. One script for any
NVIDIA GPU.

    python benchmarks/gpu_check.py [--out DIR] [--frames N]

Prints a table last and writes gpu_check.json and gpu_tests.log to --out (default $OUT, else
.benchmarks/). Exit status 1 if any correctness check or GPU test fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from kernels.cpu_reference import CpuReference  # noqa: E402
from sdk import frames, load_package  # noqa: E402
from sdk.backends.onnx_graph import OnnxGraphModule  # noqa: E402
from sdk.cuda.pipeline import TorchCudaPipeline  # noqa: E402
from sdk.cuda.compiler import compile_builds  # noqa: E402
from sdk.cuda.kernels import POST_ROWS_PER_THREAD, StylizeKernels  # noqa: E402

ORDERS = ("bgr", "rgb", "bgra", "rgba")
CHECK_SIZES = ((129, 237), (1080, 1920), (2160, 3840))  # H, W
# A frame smaller than the smallest working size: the model output is upscaled to it, so the post
# step downscales and runs the direct kernel; every size above runs the staged one.
SMALL_FRAME = (9, 13)
# post_builds (the sweep of other kernel builds) runs last: a fault in a build not yet run on a GPU (a launch
# error, an illegal address, which ends the CUDA context) must not cost the model and end-to-end figures.
SECTIONS = ("gpu_tests", "kernel_checks", "kernel_times", "model_720p", "end_to_end", "post_builds")
E2E_SIZES = {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920)}
MAX_SIDE, STRIDE, MIN_SIDE = 1280, 4, 16
# Other builds of the post kernels that post_builds times beside the default (8 rows a thread, 2 blocks an SM):
# (rows a thread, compile options). Static counts for each (sm_90) in docs/gpu-tuning/kernel_tuning.md.
# - tile heights and register caps: at 8 rows, 3 blocks an SM (the default until the ninth session) gives 80
#   registers and some spills, 4 blocks 64 registers and more;
# - the default with the next wave's frame rows prefetched into L2;
# - the persistent staged kernel (a grid of resident blocks, each requesting its next tile while it blends one),
#   at 8 rows with the 2-block register budget (two tiles' frame words in registers) and at 4 rows.
# tests/kernels/test_gpu.py checks each against the CPU reference.
POST_BUILDS = ((4, ("SK_POST_MIN_BLOCKS=3",)), (4, ("SK_POST_MIN_BLOCKS=4",)), (8, ("SK_POST_MIN_BLOCKS=3",)),
               (8, ("SK_POST_MIN_BLOCKS=4",)), (8, ("SK_POST_PREFETCH_NEXT=1",)),
               (8, ("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=2")), (4, ("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=3")),
               (4, ("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=2")))


def events_median_ms(fn, reps: int = 50, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def per_launch_ms(launch, repeat: int = 20) -> float:
    """Median over 50 timings of ``repeat`` back-to-back launches from Python, per launch. A
    cuda-python launch costs the CPU tens of microseconds, so for short kernels this times the
    launches, not the kernel; it is what a loop without CUDA graphs pays."""
    def batch():
        for _ in range(repeat):
            launch()
    return events_median_ms(batch) / repeat


def graph_ms(launches, repeat: int = 20) -> float:
    """GPU time of one round of ``launches``: ``repeat`` rounds captured in one CUDA graph and
    replayed between two events (median of 50), so no Python launch cost is in it."""
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        for launch in launches:
            launch()
    stream.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        for _ in range(repeat):
            for launch in launches:
                launch()
    return events_median_ms(graph.replay) / repeat


def copy_graph_ms(nbytes: int, before) -> float:
    """GPU time of ``before`` and then a device-to-device copy moving ``nbytes`` (half read, half
    written), as graph_ms times a kernel."""
    src = torch.empty(nbytes // 2, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    return graph_ms([before, lambda: dst.copy_(src)])


def copy_bandwidth() -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    ms = events_median_ms(lambda: dst.copy_(src), reps=20)
    return 2 * src.numel() / (ms * 1e-3)


def pitched_frame(h: int, w: int, channels: int, rng, device: str = "cuda") -> torch.Tensor:
    """A random uint8 frame whose rows are padded (pitch > width * channels)."""
    pitch = ((w * channels + 255) // 256) * 256 + 64
    buffer = torch.from_numpy(rng.integers(0, 256, (h, pitch), dtype=np.uint8)).to(device)
    return buffer[:, : w * channels].view(h, w, channels)


def check_kernels(kernels: StylizeKernels, ref: CpuReference, rng, device: str = "cuda",
                  sizes=CHECK_SIZES) -> list[dict]:
    """Every size, order and precision against the CPU reference. With ``device="cpu"`` and the CPU
    emulation of the kernels (kernels/emulator.py) the same code runs in the test suite."""
    rows = []
    cuda = device == "cuda"
    stream = torch.cuda.current_stream().cuda_stream if cuda else 0

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for (H, W) in sizes:
        h, w = frames.working_size(H, W, STRIDE, MAX_SIDE, MIN_SIDE)
        for order in ORDERS:
            channels = 4 if order.endswith("a") else 3
            frame = pitched_frame(H, W, channels, rng, device)
            host = frame.cpu().numpy()  # the reference takes pitched rows too
            for half in (False, True):
                dtype = torch.float16 if half else torch.float32
                # preprocess, output poisoned with NaN: any element left unwritten stays NaN.
                out = torch.full((1, 3, h, w), float("nan"), dtype=dtype, device=device)
                kernels.preprocess(frame.data_ptr(), frame.stride(0), H, W, order, out.data_ptr(), h, w, half, stream)
                sync()
                got = out.float().cpu().numpy()
                want = ref.preprocess(host, order, (h, w))
                pre_err = float(np.abs(got - want).max()) * 127.5  # in uint8 steps
                pre_written = bool(np.isfinite(got).all())
                # postprocess: model output slightly beyond [-1, 1] to exercise the clamp; temporal smoothing on
                # half the cases.
                styled = torch.from_numpy(rng.uniform(-1.05, 1.05, (1, 3, h, w)).astype(np.float32)).to(device, dtype)
                post = check_post(kernels, ref, frame, styled, order, 0.3 if half else 0.0, rng, device, stream)
                rows.append({"frame": f"{W}x{H}", "work": f"{w}x{h}", "order": order, "dtype": "f16" if half else "f32",
                             "pre_max_err_lsb": round(pre_err, 3), "pre_all_written": pre_written, **post,
                             "ok": pre_written and pre_err <= 1.0 and post["ok"]})
    return rows


def check_post(kernels, ref: CpuReference, frame: torch.Tensor, styled: torch.Tensor, order: str, temporal: float, rng,
               device: str = "cuda", stream: int = 0) -> dict:
    """The post kernel on ``frame`` (H x W x C, any pitch) and the model output ``styled`` (FP16 or FP32) against the
    CPU reference, strength 0.7, the output poisoned twice (an unwritten byte differs between the two). With
    ``temporal``, the previous output is random and the previous input is the frame off by up to 15 steps, so
    that smoothing is partly faded."""
    H, W, channels = frame.shape
    h, w = styled.shape[2:]
    previous = previous_input = None
    if temporal:
        previous = pitched_frame(H, W, channels, rng, device)
        previous_input = pitched_frame(H, W, channels, rng, device)
        noise = torch.from_numpy(rng.integers(-15, 16, (H, W, channels), dtype=np.int16)).to(device)
        previous_input.copy_((frame.to(torch.int16) + noise).clamp(0, 255).to(torch.uint8))
    smooth = (previous.data_ptr(), previous.stride(0), previous_input.data_ptr(), previous_input.stride(0)) \
        if temporal else (0, 0, 0, 0)
    outs = []
    for poison in (0, 255):
        out = torch.full((H, W, channels), poison, dtype=torch.uint8, device=device)
        kernels.postprocess(styled.data_ptr(), h, w, frame.data_ptr(), frame.stride(0), H, W, order, 0.7,
                            out.data_ptr(), out.stride(0), styled.dtype == torch.float16, *smooth, temporal, stream)
        if device == "cuda":
            torch.cuda.synchronize()
        outs.append(out.cpu().numpy())
    written = bool(np.array_equal(outs[0], outs[1]))
    want = ref.postprocess(styled.float().cpu().numpy(), frame.cpu().numpy(), order, 0.7,
                           previous.cpu().numpy() if temporal else None, temporal,
                           previous_input.cpu().numpy() if temporal else None)
    diff = np.abs(outs[0].astype(int) - want.astype(int))
    return {"temporal": temporal, "post_max_err_lsb": int(diff.max()), "post_all_written": written,
            # how often the float rounding differs from the CPU path's (the limit is on the max)
            "post_off_by_one_fraction": float((diff == 1).mean()),
            "ok": written and int(diff.max()) <= 1}


def kernel_launches(kernels: StylizeKernels, H: int, W: int, rng) -> list[tuple]:
    """(name, launch, bytes it must move) for pre, post and post with temporal smoothing on a random
    H x W BGR frame and its FP16 working size, strength 0.8; each launch goes to the current stream."""
    h, w = frames.working_size(H, W, STRIDE, MAX_SIDE, MIN_SIDE)
    frame = torch.from_numpy(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).cuda()
    image = torch.empty((1, 3, h, w), dtype=torch.float16, device="cuda")
    styled = torch.from_numpy(rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float16)).cuda()
    out, previous, previous_input = torch.empty_like(frame), torch.empty_like(frame), frame.clone()

    def pre():
        kernels.preprocess(frame.data_ptr(), frame.stride(0), H, W, "bgr", image.data_ptr(), h, w, True,
                           torch.cuda.current_stream().cuda_stream)

    def post():
        kernels.postprocess(styled.data_ptr(), h, w, frame.data_ptr(), frame.stride(0), H, W, "bgr", 0.8,
                            out.data_ptr(), out.stride(0), True, stream=torch.cuda.current_stream().cuda_stream)

    def post_temporal():
        kernels.postprocess(styled.data_ptr(), h, w, frame.data_ptr(), frame.stride(0), H, W, "bgr", 0.8,
                            out.data_ptr(), out.stride(0), True, previous.data_ptr(), previous.stride(0),
                            previous_input.data_ptr(), previous_input.stride(0), 0.5,
                            stream=torch.cuda.current_stream().cuda_stream)

    pre_bytes = H * W * 3 + 3 * h * w * 2
    post_bytes = 3 * h * w * 2 + H * W * 3 * 2
    return [("pre", pre, pre_bytes), ("post", post, post_bytes),
            ("post+temporal", post_temporal, post_bytes + H * W * 3 * 2)]


# check_post_build's cases: (frame H, W), (model output h, w), order, FP16, temporal.
POST_BUILD_CASES = (((2160, 3840), (720, 1280), "bgr", True, 0.4), ((1080, 1920), (720, 1280), "rgba", False, 0.0))


def check_post_build(kernels, ref: CpuReference, rng, device: str = "cuda", cases=POST_BUILD_CASES) -> list[dict]:
    """A build of the post kernels (POST_BUILDS) against the CPU reference (check_post): the default build gets every
    size, order and precision in check_kernels; the others, these few cases. With ``device="cpu"`` and the CPU
    emulation the same code runs in the test suite."""
    rows = []
    for (H, W), (h, w), order, half, temporal in cases:
        frame = pitched_frame(H, W, 4 if order.endswith("a") else 3, rng, device)
        styled = torch.from_numpy(rng.uniform(-1.05, 1.05, (1, 3, h, w)).astype(np.float16 if half else np.float32))
        rows.append({"post_rows": kernels.post_rows, "defines": " ".join(kernels.defines), "frame": f"{W}x{H}",
                     "order": order, "dtype": "f16" if half else "f32",
                     **check_post(kernels, ref, frame, styled.to(device), order, temporal, rng, device)})
    return rows


def build_label(defines: str) -> str:
    """A build's compile options, short enough for the table's column."""
    return (defines.replace("SK_POST_MIN_BLOCKS=", "minblk").replace("SK_POST_PREFETCH_NEXT=1", "pf next")
            .replace("SK_POST_PERSISTENT=1", "pers"))


def fastest_post_builds(timings: list[dict]) -> list[dict]:
    """For each frame size, the post build (default or swept) with the least cold time, beside the default's:
    what the next default should be, read off one run."""
    best = []
    for frame in dict.fromkeys(r["frame"] for r in timings if r["kernel"] == "post"):
        rows = [r for r in timings if r["kernel"] == "post" and r["frame"] == frame]
        fastest = min(rows, key=lambda r: r["ms"])
        default = next((r["ms"] for r in rows if r["post_rows"] == POST_ROWS_PER_THREAD and not r["defines"]), None)
        best.append({"frame": frame, "build": f"{fastest['post_rows']} {build_label(fastest['defines'])}".strip(),
                     "cold_ms": fastest["ms"], "x_floor": fastest["x_floor"], "default_cold_ms": default,
                     "gain_vs_default": round(default / fastest["ms"], 3) if default else None})
    return best


def time_kernels(kernels: StylizeKernels, bandwidth: float, rng,
                 names=("pre", "post", "post+temporal")) -> list[dict]:
    """Each kernel three ways: launched from Python; on the GPU alone with its data left in L2 by
    the previous launch (warm); and on the GPU alone after a read of 4x the L2 size evicted it
    (cold, the read's own time subtracted). The memory floor is a DRAM figure, so `ok` uses cold."""
    rows = []
    l2_bytes = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 64 << 20)
    evictor = torch.ones(max(l2_bytes, 16 << 20), dtype=torch.float32, device="cuda")  # 4x L2 in bytes

    def evict():
        evictor.amax()

    evict_ms = graph_ms([evict])
    for (H, W) in CHECK_SIZES[1:]:
        h, w = frames.working_size(H, W, STRIDE, MAX_SIDE, MIN_SIDE)
        for name, launch, nbytes in kernel_launches(kernels, H, W, rng):
            if name not in names:
                continue
            python_ms = per_launch_ms(launch)
            warm_ms = graph_ms([launch])
            cold_ms = graph_ms([evict, launch]) - evict_ms
            floor = nbytes / bandwidth * 1e3
            # Context for the floor at this size: a plain device-to-device copy moving the same bytes
            # (half read, half written), timed the same way. The 2x target stays on `floor`.
            copy_cold_ms = copy_graph_ms(nbytes, evict) - evict_ms
            rows.append({"kernel": name, "post_rows": kernels.post_rows,
                         "defines": " ".join(getattr(kernels, "defines", ())), "frame": f"{W}x{H}", "work": f"{w}x{h}",
                         "ms_python_launch": round(python_ms, 4),
                         "ms_warm_l2": round(warm_ms, 4), "ms": round(cold_ms, 4), "floor_ms": round(floor, 4),
                         "x_floor_warm": round(warm_ms / floor, 2), "x_floor": round(cold_ms / floor, 2),
                         "copy_same_bytes_cold_ms": round(copy_cold_ms, 4),
                         "ok": cold_ms <= 2 * floor if name != "post+temporal" else None})
    return rows


def model_times(package) -> list[dict]:
    """The generator alone at 720p, replayed from a CUDA graph: where the end-to-end time goes."""
    onnx_bytes = package.file("fp32").read_bytes()
    rows = []
    style = torch.zeros(1, len(package.style_names), 1, 1, device="cuda")
    style[0, 0] = 1
    style_name = package.manifest["style_input"]["name"]
    for label, dtype, channels_last, fold in (
            ("fp32 NCHW", torch.float32, False, False), ("fp16 NCHW", torch.float16, False, False),
            ("fp16 channels-last", torch.float16, True, False),
            ("fp16 channels-last, style folded", torch.float16, True, True)):
        graph_module = OnnxGraphModule(onnx_bytes, torch.device("cuda"), "generator.onnx",
                                       dtype=dtype if dtype != torch.float32 else None, channels_last=channels_last,
                                       style_input=style_name if fold else None)
        x = torch.rand(1, 3, 720, 1280, device="cuda", dtype=dtype) * 2 - 1
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        s = style.to(dtype)
        with torch.inference_mode():
            if fold:  # as the pipeline runs it: the style bound once, the image program every frame
                bound = graph_module.bind(s)
                forward = lambda: graph_module.run_bound(x, bound)  # noqa: E731
            else:
                forward = lambda: graph_module(x, s)  # noqa: E731
            stream = torch.cuda.Stream()
            with torch.cuda.stream(stream):
                for _ in range(3):
                    forward()
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=stream):
                forward()
            eager_ms = events_median_ms(forward, reps=30)
            graph_ms = events_median_ms(graph.replay, reps=30)
        rows.append({"model": label, "eager_ms": round(eager_ms, 3), "graph_ms": round(graph_ms, 3)})
    return rows


class NaivePipeline:
    """What a user writes first: torch ops for pre/post, the model in eager FP32."""

    def __init__(self, graph: OnnxGraphModule):
        self.graph = graph

    def __call__(self, frame: np.ndarray, size_hw, style: torch.Tensor, strength: float) -> np.ndarray:
        f = torch.from_numpy(frame).cuda()
        x = f.permute(2, 0, 1)[None].float().flip(1) / 127.5 - 1  # BGR -> RGB, [-1, 1]
        x = torch.nn.functional.interpolate(x, size=size_hw, mode="bilinear", align_corners=False)
        y = self.graph(x.contiguous(), style)[0]
        y = ((y + 1) * 127.5).clamp(0, 255)
        y = torch.nn.functional.interpolate(y, size=frame.shape[:2], mode="bilinear", align_corners=False)
        y = y[0].flip(0).permute(1, 2, 0)
        out = f.float() + (y - f.float()) * strength
        return out.clamp(0, 255).round().to(torch.uint8).cpu().numpy()


def sdk_video_loop(label: str, clip: list, frames_count: int, reference: np.ndarray,
                   temporal: float = 0.0, device_frames: bool = False) -> dict:
    """The public path: Stylizer.submit/result double-buffered exactly as sdk.stylize_video runs it.
    With ``device_frames`` the clip is torch CUDA tensors and the results stay on the GPU."""
    import sdk
    with sdk.Stylizer(backend="torch-cuda", style=0, strength=0.8, temporal=temporal) as stylizer:
        first = stylizer.submit(clip[0]).result()
        if device_frames:
            first = first.cpu().numpy()
        for f in clip:
            stylizer.submit(f).result()
        start = time.perf_counter()
        pending = stylizer.submit(clip[0])
        for i in range(1, frames_count):
            current = stylizer.submit(clip[i % len(clip)])
            pending.result()
            pending = current
        pending.result()
        seconds = time.perf_counter() - start
    diff = np.abs(first.astype(int) - reference.astype(int))
    smoothing = f", temporal {temporal} (in the kernel)" if temporal else ""
    on_device = ", device frames in and out" if device_frames else ""
    return {"size": label, "pipeline": f"SDK: Stylizer.submit/result{smoothing}{on_device}",
            "fps": round(frames_count / seconds, 1), "ms_per_frame": round(seconds / frames_count * 1e3, 3),
            "max_diff_vs_naive": int(diff.max()), "mean_diff_vs_naive": round(float(diff.mean()), 3)}


def compile_all_builds() -> str:
    """The default build and every POST_BUILDS build for this GPU, compiled at once into the on-disk cache (a
    process a core), so that the GPU tests, the checks and the sweep only load them. A failure is left for those
    to report, each with its NVRTC log."""
    major, minor = torch.cuda.get_device_capability(0)
    start = time.perf_counter()
    try:
        seconds = compile_builds(f"sm_{major}{minor}", [(POST_ROWS_PER_THREAD, ()), *POST_BUILDS])
    except Exception as exc:  # noqa: BLE001 - the later parts compile what is missing, one by one
        return f"failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    return (f"{len(seconds)} in {time.perf_counter() - start:.1f} s at once "
            f"({sum(seconds):.1f} s of compiling, the longest {max(seconds):.1f} s)")


def gpu_tests(out_dir: Path, timeout_s: int = 150) -> dict:
    """The suite's GPU-marked tests (kernels vs CPU reference, torch-cuda vs ONNX Runtime, temporal
    smoothing in the kernel vs the CPU path, TensorRT where it runs), in a child process."""
    log = out_dir / "gpu_tests.log"
    cmd = [sys.executable, "-m", "pytest", "tests/kernels/test_gpu.py", "tests/sdk/backends/test_tensorrt.py",
           "-q", "-rs", "-p", "no:cacheprovider"]
    # Written as it runs and bounded in time: a hang (a stream waiting on an event nothing records)
    # must leave its log and the rest of the check. The last H200 run took 21.8 s (with fewer builds to check).
    with log.open("w") as sink:
        try:
            returncode = subprocess.run(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, check=False,
                                        timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            returncode = f"timed out after {timeout_s} s"
    lines = (log.read_text().strip().splitlines() or ["(no output)"])
    return {"command": " ".join(cmd[1:]), "returncode": returncode, "summary": lines[-1], "log": str(log)}


def end_to_end(package, frames_count: int, rng) -> list[dict]:
    onnx_bytes = package.file("fp32").read_bytes()
    graph32 = OnnxGraphModule(onnx_bytes, torch.device("cuda"), "generator.onnx")
    graph16 = OnnxGraphModule(onnx_bytes, torch.device("cuda"), "generator.onnx", dtype=torch.float16,
                              channels_last=True, style_input=package.manifest["style_input"]["name"])
    kernels = StylizeKernels(torch.cuda.current_device())
    naive = NaivePipeline(graph32)
    style_np = np.zeros((1, len(package.style_names), 1, 1), np.float32)
    style_np[0, 0] = 1
    style32 = torch.from_numpy(style_np).cuda()
    rows = []
    for label, (H, W) in E2E_SIZES.items():
        size = frames.working_size(H, W, STRIDE, MAX_SIDE, MIN_SIDE)
        clip = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(4)]
        variants = {
            "naive torch (FP32 eager, torch pre/post)": lambda f: naive(f, size, style32, 0.8),
            "ours: torch-cuda FP16, fused kernels": None,
            "ours: + CUDA graph": None,
        }
        eager = TorchCudaPipeline(graph16, kernels, half=True, use_graphs=False, slots=1)
        graphed = TorchCudaPipeline(graph16, kernels, half=True, use_graphs=True, slots=2)
        variants["ours: torch-cuda FP16, fused kernels"] = lambda f: eager.run(f, "bgr", size, style_np, 0.8)
        variants["ours: + CUDA graph"] = lambda f: graphed.run(f, "bgr", size, style_np, 0.8)
        with torch.inference_mode():
            reference = naive(clip[0], size, style32, 0.8)
            for name, fn in variants.items():
                for f in clip:  # warm-up: compile, capture, allocator
                    fn(f)
                start = time.perf_counter()
                for i in range(frames_count):
                    out = fn(clip[i % len(clip)])
                seconds = time.perf_counter() - start
                diff = np.abs(fn(clip[0]).astype(int) - reference.astype(int))
                rows.append({"size": label, "pipeline": name, "fps": round(frames_count / seconds, 1),
                             "ms_per_frame": round(seconds / frames_count * 1e3, 3),
                             "max_diff_vs_naive": int(diff.max()), "mean_diff_vs_naive": round(float(diff.mean()), 3)})
            # Pipelined: frame N+1 uploads and starts while frame N finishes and downloads.
            pending = graphed.submit(clip[0], "bgr", size, style_np, 0.8)
            for f in clip[1:]:
                nxt = graphed.submit(f, "bgr", size, style_np, 0.8)
                graphed.result(pending)
                pending = nxt
            graphed.result(pending)
            start = time.perf_counter()
            pending = graphed.submit(clip[0], "bgr", size, style_np, 0.8)
            for i in range(1, frames_count):
                nxt = graphed.submit(clip[i % len(clip)], "bgr", size, style_np, 0.8)
                out = graphed.result(pending)
                pending = nxt
            out = graphed.result(pending)
            seconds = time.perf_counter() - start
            rows.append({"size": label, "pipeline": "ours: + CUDA graph, pipelined (2 slots)",
                         "fps": round(frames_count / seconds, 1), "ms_per_frame": round(seconds / frames_count * 1e3, 3),
                         "max_diff_vs_naive": None, "mean_diff_vs_naive": None})
            rows.append(sdk_video_loop(label, clip, frames_count, reference))
            rows.append(sdk_video_loop(label, clip, frames_count, reference, temporal=0.6))
            rows.append(sdk_video_loop(label, [torch.from_numpy(f).cuda() for f in clip], frames_count, reference,
                                       device_frames=True))
        del out
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT", str(ROOT / ".benchmarks")))
    parser.add_argument("--frames", type=int, default=300, help="timed frames per end-to-end row")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated parts to run (default all: {','.join(SECTIONS)})")
    args = parser.parse_args()
    wanted = set(args.sections.split(","))
    if wanted - set(SECTIONS):
        parser.error(f"--sections {args.sections!r}: unknown {sorted(wanted - set(SECTIONS))}; choose from {SECTIONS}")
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check here (the CPU parts run in `make test`)")
        return 0
    rng = np.random.default_rng(0)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    compiled = compile_all_builds()
    print(f"kernel builds compiled: {compiled}", flush=True)
    tests = gpu_tests(out_dir) if "gpu_tests" in wanted else {"command": "(not run)", "returncode": 0,
                                                                 "summary": "not run (--sections)", "log": ""}
    print(f"GPU tests: {tests['summary']} (rc {tests['returncode']}; {tests['log']})", flush=True)
    info = {"gpu": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=ROOT).stdout.strip(),
            # What actually ran: a copied tree's .git can be older than its files.
            "kernel_sources_sha256": hashlib.sha256(b"".join(
                (ROOT / "kernels" / name).read_bytes() for name in ("stylize_kernels.cu", "pixel_math.cuh"))).hexdigest()[:16]}
    info["parallel_compile"] = compiled
    try:
        info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    t0 = time.perf_counter()
    kernels = StylizeKernels(torch.cuda.current_device())
    info["arch"], info["nvrtc_compile_and_load_s"] = kernels.arch, round(time.perf_counter() - t0, 2)
    ref = CpuReference()
    bandwidth = copy_bandwidth()
    info["d2d_copy_GBps"] = round(bandwidth / 1e9, 1)
    results = {"info": info, "gpu_tests": tests, "errors": {}}

    def save() -> None:
        (out_dir / "gpu_check.json").write_text(json.dumps(results, indent=2))

    def section(name: str, run):
        """One part of the check; a failure is recorded and the rest still runs, and the JSON is
        rewritten after each part, so a run cut short keeps what it measured."""
        if name not in wanted:
            results[name] = []
            return []
        started = time.perf_counter()
        try:
            results[name] = run()
        except Exception:  # noqa: BLE001 - report and go on: device time is scarce
            import traceback
            results[name] = []
            results["errors"][name] = traceback.format_exc()
            print(f"\n{name} FAILED:\n{results['errors'][name]}", flush=True)
        print(f"{name}: {time.perf_counter() - started:.1f} s", flush=True)
        save()
        return results[name]

    checks = section("kernel_checks", lambda: check_kernels(kernels, ref, rng, sizes=(*CHECK_SIZES, SMALL_FRAME)))
    timings = section("kernel_times", lambda: time_kernels(kernels, bandwidth, rng))
    torch.backends.cudnn.benchmark = True
    models = section("model_720p", lambda: model_times(load_package()))
    e2e = section("end_to_end", lambda: end_to_end(load_package(), args.frames, rng))
    timings = timings + section("post_builds", lambda: [
        r for rows, defines in POST_BUILDS
        for r in time_kernels(StylizeKernels(torch.cuda.current_device(), post_rows=rows, defines=defines), bandwidth,
                              rng, names=("post",))])

    print(f"\n{info}")
    print("\nkernel checks (max error in uint8 steps vs the CPU build of the same math; outputs poisoned first)")
    print(f"{'frame':>10} {'work':>9} {'order':>5} {'dtype':>5} {'temporal':>8} {'pre err':>8} {'pre wr':>6} "
          f"{'post err':>8} {'post 1 off':>10} {'post wr':>7} ok")
    for r in checks:
        print(f"{r['frame']:>10} {r['work']:>9} {r['order']:>5} {r['dtype']:>5} {r['temporal']:8.1f} {r['pre_max_err_lsb']:8.3f} "
              f"{str(r['pre_all_written']):>6} {r['post_max_err_lsb']:8d} {r['post_off_by_one_fraction']:10.1e} "
              f"{str(r['post_all_written']):>7} {r['ok']}")
    print(f"\nkernel times (FP16, BGR; CUDA events, median of 50) vs the memory floor (bytes over the "
          f"{info['d2d_copy_GBps']} GB/s copy): from Python, 20 launches back to back; on the GPU alone (20 launches "
          f"in a CUDA graph) with the data in L2 (warm) and after evicting L2 (cold; ok = cold <= 2x floor); copy ms: a device-to-device copy of the same bytes, cold")
    print(f"{'kernel':>13} {'rows, build':>16} {'frame':>10} {'work':>9} {'python ms':>10} {'warm ms':>8} {'cold ms':>8} "
          f"{'floor ms':>8} {'warm/fl':>7} {'cold/fl':>7} {'copy ms':>8} ok")
    for r in timings:
        short = build_label(r["defines"])
        build = f"{r['post_rows']}{' ' + short if short else ''}"
        print(f"{r['kernel']:>13} {build if 'post' in r['kernel'] else '':>16} {r['frame']:>10} {r['work']:>9} {r['ms_python_launch']:10.4f} {r['ms_warm_l2']:8.4f} "
              f"{r['ms']:8.4f} {r['floor_ms']:8.4f} {r['x_floor_warm']:7.2f} {r['x_floor']:7.2f} {r['copy_same_bytes_cold_ms']:8.4f} {r['ok']}")
    results["fastest_post_builds"] = fastest_post_builds(timings)
    save()
    for r in results["fastest_post_builds"]:
        against = (f"{r['gain_vs_default']:.3f}x as fast as the default ({r['default_cold_ms']:.4f} ms)"
                   if r["default_cold_ms"] else "the default was not timed")
        print(f"fastest post build at {r['frame']}: {r['build']}, cold {r['cold_ms']:.4f} ms "
              f"({r['x_floor']:.2f}x floor), {against}")
    print("\ngenerator alone, 1280x720, 1 frame (CUDA events, median of 30)")
    for r in models:
        print(f"  {r['model']:<34} eager {r['eager_ms']:8.3f} ms   CUDA graph {r['graph_ms']:8.3f} ms")
    print("\nend to end, host uint8 frame in -> host uint8 frame out, default model, style glow, strength 0.8")
    print(f"{'size':>6} {'pipeline':<60} {'FPS':>8} {'ms/frame':>9} {'max diff':>8} {'mean diff':>9}")
    for r in e2e:
        print(f"{r['size']:>6} {r['pipeline']:<60} {r['fps']:8.1f} {r['ms_per_frame']:9.3f} "
              f"{str(r['max_diff_vs_naive']):>8} {str(r['mean_diff_vs_naive']):>9}")
    failed = [r for r in checks if not r["ok"]]
    print(f"\nkernel checks: {len(checks) - len(failed)} passed, {len(failed)} failed")
    print(f"GPU tests ({tests['command']}): {tests['summary']}")
    if results["errors"]:
        print(f"sections that raised (tracebacks above and in gpu_check.json): {', '.join(results['errors'])}")
    return 1 if failed or tests["returncode"] != 0 or results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
