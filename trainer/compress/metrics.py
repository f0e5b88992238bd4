"""A variant in numbers: fidelity to the FP32 model, closure to each look, ONNX Runtime CPU latency; the floors."""
from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from sdk import frames
from sdk.frames import working_size
from sdk.backends.onnxruntime import layout_options
from sdk.onnx_edit import input_to_constant
from trainer import evaluate, looks, photos


# Fidelity floors against the uncompressed FP32 model (mean PSNR over held-out photos and styles),
# and how much of each look a variant may lose: its closure (trainer.closure) on the held-out photos
# may be at most `closure_drop` below the FP32 model's, style by style.
FLOORS = {"quantized_psnr_db": 32.0, "pruned_psnr_db": 30.0, "closure_drop": 0.05}


def _input_dtype(onnx_bytes: bytes):
    import onnx
    elem = onnx.load_from_string(onnx_bytes).graph.input[0].type.tensor_type.elem_type
    return np.float16 if elem == onnx.TensorProto.FLOAT16 else np.float32


def ort_session(onnx_bytes: bytes, style: np.ndarray | None = None, nchwc: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # FP16 graphs on the CPU warn once per conv that cannot be constant-folded
    dtype = _input_dtype(onnx_bytes)
    model = onnx_bytes if style is None else input_to_constant(onnx_bytes, "style", style.astype(dtype))
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"], **layout_options(nchwc))
    session.input_dtype = dtype  # feeds are cast to what the graph declares
    return session


def run_rgb(session, rgb: np.ndarray, style: np.ndarray | None, stride: int = 4) -> np.ndarray:
    """One RGB photo through a bare session with the SDK's own pre/post-processing and working size
    (``style`` None: a session specialized to its style, as the SDK runs one)."""
    size = working_size(*rgb.shape[:2], stride, 1280, 16)
    feeds = {"image": frames.preprocess(rgb, size, "rgb")} | ({} if style is None else {"style": style})
    y = session.run(None, {k: v.astype(session.input_dtype) for k, v in feeds.items()})[0]
    return frames.postprocess(y.astype(np.float32), rgb, 1.0, "rgb")


def cpu_latencies_ms(blobs: dict[str, bytes], size_wh: tuple[int, int], num_styles: int,
                     rounds: int = 30, nchwc: dict[str, bool] | None = None) -> dict[str, float]:
    """Median latency of every model, as the SDK runs it (one style-specialized session alive at a
    time; ``nchwc[name]``: ONNX Runtime's blocked layout on or off, on where not given). Measured in
    three passes over all models, so a change in the machine's speed during the measurement (a
    shared VM's neighbours) spreads over every model alike instead of favouring one."""
    style = np.eye(num_styles, dtype=np.float32)[0].reshape(1, -1, 1, 1)
    times: dict[str, list[float]] = {name: [] for name in blobs}
    for _ in range(3):
        for name, blob in blobs.items():
            session = ort_session(blob, style, (nchwc or {}).get(name, True))
            x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size_wh[1], size_wh[0])).astype(session.input_dtype)
            for _ in range(3):
                session.run(None, {"image": x})
            for _ in range(max(1, rounds // 3)):
                start = time.perf_counter()
                session.run(None, {"image": x})
                times[name].append(time.perf_counter() - start)
            del session
    return {name: round(float(np.median(t) * 1e3), 2) for name, t in times.items()}


def record_latencies(package_dir: str | Path, variants: dict[str, dict], num_styles: int) -> None:
    """Re-measure every variant's CPU latency in one round-robin pass (what ``auto`` compares)."""
    blobs = {name: (Path(package_dir) / v["file"]).read_bytes() for name, v in variants.items()}
    _record(blobs, variants, num_styles)


def _record(blobs: dict[str, bytes], variants: dict[str, dict], num_styles: int) -> None:
    """Each variant's faster ONNX Runtime layout at 1280x720 (``onnxruntime_nchwc``, which the SDK
    follows), then its latencies in that layout. The blocked layout (NCHWc) pads channels to the
    CPU's vector width, 16 floats with AVX-512: a pruned model's 8-channel maps cost twice their
    size in it and their reorders, so it runs faster without (31 against 40 ms at 720p)."""
    both = {f"{name}\0{layout}": blob for name, blob in blobs.items() for layout in ("nchwc", "plain")}
    layouts = {key: key.endswith("nchwc") for key in both}
    at_720 = cpu_latencies_ms(both, (1280, 720), num_styles, 10, layouts)
    for name in blobs:
        variants[name]["onnxruntime_nchwc"] = at_720[f"{name}\0nchwc"] <= at_720[f"{name}\0plain"]
    measure_latencies(blobs, variants, num_styles)


def measure_latencies(blobs: dict[str, bytes], variants: dict[str, dict], num_styles: int) -> None:
    """Each variant's ``cpu_ms_640x360`` and ``cpu_ms_1280x720`` (what ``auto`` compares), in the layout its
    record names (``onnxruntime_nchwc``, on where not given)."""
    nchwc = {name: bool(variants[name].get("onnxruntime_nchwc", True)) for name in blobs}
    for size, key, rounds in (((640, 360), "cpu_ms_640x360", 30), ((1280, 720), "cpu_ms_1280x720", 10)):
        for name, ms in cpu_latencies_ms(blobs, size, num_styles, rounds, nchwc).items():
            variants[name][key] = ms


def fidelity(onnx_bytes: bytes, reference_bytes: bytes, styles: list[str]) -> dict[str, float]:
    """PSNR/SSIM of this variant's output against the reference's, on held-out photos, every style."""
    from skimage.metrics import structural_similarity

    ours, ref = ort_session(onnx_bytes), ort_session(reference_bytes)
    psnrs, ssims = [], []
    for image in photos.load_set(photos.HELD_OUT):
        for s in range(len(styles)):
            style = np.eye(len(styles), dtype=np.float32)[s].reshape(1, -1, 1, 1)
            a, b = run_rgb(ours, image, style), run_rgb(ref, image, style)
            psnrs.append(min(evaluate.psnr(a, b), 99.0))
            ssims.append(structural_similarity(a, b, channel_axis=2, data_range=255))
    return {"psnr_db": round(float(np.mean(psnrs)), 2), "psnr_min_db": round(float(np.min(psnrs)), 2),
            "ssim": round(float(np.mean(ssims)), 4)}


def look_gains(onnx_bytes: bytes, styles: list[str]) -> dict[str, float]:
    session = ort_session(onnx_bytes)
    known = [s for s in styles if s in looks.LOOKS]

    def run(rgb, style):
        return run_rgb(session, rgb, np.eye(len(styles), dtype=np.float32)[styles.index(style)].reshape(1, -1, 1, 1))

    return {s: row["gain_db"] for s, row in evaluate.look_table(run, known).items()}


@functools.lru_cache(maxsize=8)


def look_closures(onnx_bytes: bytes, styles: tuple[str, ...]) -> dict[str, float]:
    """Mean closure of each style with a reference filter, on the bundled held-out photos."""
    from trainer import closure
    session = ort_session(onnx_bytes)
    test, plain, look_side, _ = evaluate.looks_sets(corpus_root=Path("/nonexistent-corpus"))
    known = [s for s in styles if s in looks.LOOKS]

    def run(rgb, style):
        return run_rgb(session, rgb, np.eye(len(styles), dtype=np.float32)[styles.index(style)].reshape(1, -1, 1, 1))

    table = closure.closure_table(run, known, test, plain, look_side, looks.get_look)
    return {s: round(e["model"]["mean"], 4) for s, e in table.items()}


def measure(onnx_bytes: bytes, reference_bytes: bytes, styles: list[str], kind: str) -> dict:
    """Every number the manifest and the report keep for a variant; ``kind`` picks its fidelity floor."""
    ours, reference = look_closures(onnx_bytes, tuple(styles)), look_closures(reference_bytes, tuple(styles))
    record = {"bytes": len(onnx_bytes),
              "fidelity": fidelity(onnx_bytes, reference_bytes, styles),
              "look_gain_db": look_gains(onnx_bytes, styles), "look_closure": ours}  # CPU latencies: write_variants
    floor = FLOORS["pruned_psnr_db"] if "pruned" in kind else FLOORS["quantized_psnr_db"]
    record["floor"] = {"psnr_db": floor if kind != "fp32" else None, "closure_drop": FLOORS["closure_drop"]}
    record["passes_floor"] = bool((kind == "fp32" or record["fidelity"]["psnr_db"] >= floor) and
                                  all(ours[s] >= reference[s] - FLOORS["closure_drop"] for s in ours))
    return record


# -- packages -----------------------------------------------------------------------------------
