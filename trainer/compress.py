"""Compression between training and deployment: full -> pruned -> quantized -> ONNX, in numbers.

* :func:`prune`: structured channel pruning with torch-pruning (L2 magnitude, channel counts
  multiples of 8, the RGB output conv kept whole), to a target fraction of the MACs, then
  :func:`distill` fine-tunes the pruned generator toward the unpruned one (pixel + feature loss).
* :func:`to_fp16` and :func:`to_int8`: an FP16 ONNX, and an INT8 QDQ ONNX by static post-training
  quantization on real photos at the working resolution: per-channel symmetric INT8 weights,
  symmetric INT8 activations, bias left in float (what TensorRT's ONNX parser takes). The style
  path (style vector -> per-style scale and shift) stays in float: it is 1x1 per frame.
* :func:`measure`: a variant's fidelity against the uncompressed FP32 model (PSNR, SSIM on
  held-out photos, every style), its distance to each look, and ONNX Runtime CPU latency.

Every variant is a file in the package with its numbers in ``manifest["variants"]``; the SDK
picks the fastest one on the CPU that passes its fidelity floor (:data:`FLOORS`).
"""
from __future__ import annotations

import copy
import functools
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from sdk import frames
from sdk.frames import working_size
from sdk.onnx_edit import input_to_constant
from sdk.package import ModelPackage, load_package, write_package
from trainer import evaluate, looks, photos
from trainer.data import colour_variants
from trainer.models.generator import Generator, GeneratorConfig, count_macs, count_parameters

# Fidelity floors against the uncompressed FP32 model (mean PSNR over held-out photos and styles),
# and how much of each look a variant may lose: its closure (trainer.closure) on the held-out photos
# may be at most `closure_drop` below the FP32 model's, style by style.
FLOORS = {"quantized_psnr_db": 32.0, "pruned_psnr_db": 30.0, "closure_drop": 0.05}
ROUND_TO = 8


def generator_from_package(package: ModelPackage) -> Generator:
    """The deploy-structured generator (BatchNorm folded) with the weights of the package's FP32 ONNX."""
    import onnx
    from onnx import numpy_helper

    config = GeneratorConfig(**package.manifest["model"]["config"])
    model = Generator(config).deploy()
    keys = set(model.state_dict())
    graph = onnx.load_from_string(package.file("fp32").read_bytes()).graph
    arrays = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    weights = {k: v for k, v in arrays.items() if k in keys}
    # The exporter stores equal tensors once: colour_out's bias trains exactly as to_rgb's does (same
    # gradient, same zero start), so its Conv reads to_rgb.bias. Find a bias through its Conv.
    bias_of = {n.input[1]: n.input[2] for n in graph.node if n.op_type == "Conv" and len(n.input) > 2}
    for key in keys - set(weights):
        shared = bias_of.get(key[:-len(".bias")] + ".weight") if key.endswith(".bias") else None
        if shared in arrays:
            weights[key] = arrays[shared].clone()
            continue
        if not key.endswith(".bias"):
            raise ValueError(f"{package.file('fp32')}: no initializer {key!r}; the package does not match its config")
        # The ONNX optimizer drops all-zero conv biases (e.g. a fresh output affine): zero is exact.
        weights[key] = torch.zeros_like(model.state_dict()[key])
    model.load_state_dict(weights, strict=True)
    return model.eval()


def conv_channels(model: torch.nn.Module) -> dict[str, int]:
    """Output channels of every per-pixel conv (the record of what pruning kept)."""
    return {name: m.out_channels for name, m in model.named_modules()
            if isinstance(m, torch.nn.Conv2d) and "affine" not in name}


# Convs whose outputs are RGB: their channels are the contract, not capacity.
UNPRUNABLE = ("to_rgb", "colour_out")


def _unprunable(model: Generator) -> list[torch.nn.Module]:
    return [getattr(model, name) for name in UNPRUNABLE if hasattr(model, name)]


def prune(model: Generator, macs_fraction: float) -> Generator:
    """A pruned copy with at most ``macs_fraction`` of the MACs at 1280x720 (channels multiples of 8)."""
    import torch_pruning as tp

    full = count_macs(model, 720, 1280)
    example = (torch.rand(1, 3, 64, 64) * 2 - 1, torch.eye(model.config.num_styles)[:1].view(1, -1, 1, 1))
    best = None
    # torch-pruning prunes by a uniform ratio per layer; step it up until the MACs fit the target.
    # The stem's channels are halved (16 -> 8) at any target: they run at 1/2 and, upsampled, at full
    # resolution into the RGB conv, where a channel costs the most time per MAC.
    for ratio in np.arange(0.05, 0.81, 0.05):
        candidate = copy.deepcopy(model).requires_grad_(True)  # torch-pruning skips frozen parameters
        pruner = tp.pruner.MetaPruner(candidate, example, importance=tp.importance.MagnitudeImportance(p=2),
                                      pruning_ratio=float(ratio), pruning_ratio_dict={candidate.stem.conv: 0.5},
                                      round_to=ROUND_TO, ignored_layers=_unprunable(candidate))
        pruner.step()
        if count_macs(candidate, 720, 1280) <= macs_fraction * full:
            best = candidate
            break
    if best is None:
        raise ValueError(f"cannot prune to {macs_fraction:.0%} of the MACs with channels in multiples of {ROUND_TO}")
    return best.eval()


def training_photos(seed: int = 0, copies: int = 4) -> list[np.ndarray]:
    """Content and look-side photos with colour variants; never the held-out ones."""
    rng = np.random.default_rng(seed)
    return [v for im in photos.load_set(photos.CONTENT + photos.STYLE) for v in colour_variants(im, copies, rng)]


def _batch(images: list[np.ndarray], batch: int, crop: int, rng: np.random.Generator) -> torch.Tensor:
    out = []
    for _ in range(batch):
        image = images[rng.integers(len(images))]
        scale = rng.uniform(0.35, 1.0)
        h, w = image.shape[:2]
        size = max(crop, int(min(h, w) * scale))
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        patch = cv2.resize(image[y:y + size, x:x + size], (crop, crop), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out.append(patch)
    return torch.from_numpy(np.stack(out).astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2).contiguous()


def _styles(batch: int, num_styles: int, rng: np.random.Generator) -> torch.Tensor:
    """Mostly one-hot styles, some mixes: the student must follow the teacher on both."""
    vec = np.zeros((batch, num_styles), np.float32)
    for i in range(batch):
        if rng.random() < 0.75:
            vec[i, rng.integers(num_styles)] = 1
        else:
            vec[i] = rng.dirichlet(np.ones(num_styles))
    return torch.from_numpy(vec).view(batch, num_styles, 1, 1)


def distill(student: Generator, teacher: Generator, iterations: int = 600, batch: int = 8, crop: int = 128,
            lr: float = 2e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Fine-tune ``student`` toward ``teacher``: L1 on pixels + L1 on the teacher's stem/down features.

    The feature term compares both outputs through the teacher's own first two layers (frozen): an
    error there is one the next layers would see, not just a pixel offset. Returns the loss curve.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = training_photos(seed)
    teacher = teacher.eval().requires_grad_(False)
    student.train().requires_grad_(True)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min=lr * 0.02)

    def features(image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return teacher.down(teacher.stem(image, style), style)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=iterations, desc="distill", unit="it", dynamic_ncols=True, mininterval=2.0)
    history = []
    for _ in range(iterations):
        x = _batch(images, batch, crop, rng)
        s = _styles(batch, teacher.config.num_styles, rng)
        with torch.no_grad():
            target = teacher(x, s)
            target_features = features(target, s)
        out = student(x, s)
        loss = F.l1_loss(out, target) + 0.5 * F.l1_loss(features(out, s), target_features)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        if not math.isfinite(history[-1]):
            raise FloatingPointError(f"distillation loss is {history[-1]} at iteration {len(history)}; lower --lr")
        if bar is not None:
            bar.set_postfix(loss=f"{history[-1]:.4f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return history


# -- quantization -----------------------------------------------------------------------------

def to_fp16(onnx_bytes: bytes) -> bytes:
    """FP16 weights, compute, inputs and outputs; for GPUs (TensorRT). ONNX Runtime's CPU runs it slowly."""
    import onnx
    from onnxconverter_common import float16

    # FP16 inputs and outputs too: the GPU preprocess kernel writes FP16 directly, no cast pass.
    model = float16.convert_float_to_float16(onnx.load_from_string(onnx_bytes), keep_io_types=False)
    return model.SerializeToString()


def calibration_inputs(num_styles: int, size_wh: tuple[int, int] = (640, 360)) -> list[dict[str, np.ndarray]]:
    """Real photos (not held out) at the working resolution, every style: the activation ranges seen in use."""
    feeds = []
    for image in photos.load_set(photos.CONTENT + photos.STYLE):
        x = (cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        for s in range(num_styles):
            feeds.append({"image": x, "style": np.eye(num_styles, dtype=np.float32)[s].reshape(1, -1, 1, 1)})
    return feeds


def style_path_nodes(onnx_bytes: bytes) -> list[str]:
    """Nodes computed from the style vector alone (gamma/beta 1x1 convs): left in float."""
    import onnx

    graph = onnx.load_from_string(onnx_bytes).graph
    constant = {"style"} | {t.name for t in graph.initializer}
    names = []
    for node in graph.node:  # nodes are topologically sorted
        if all(i in constant for i in node.input if i):
            constant.update(node.output)
            names.append(node.name)
    return names


def quantize_qdq(onnx_bytes: bytes, feeds, unsigned_activations: bool = False,
                 op_types: tuple[str, ...] | None = ("Conv",), exclude: tuple[str, ...] | list[str] = ()) -> bytes:
    """Static post-training quantization to QDQ: per-channel symmetric INT8 weights, biases left in
    float, activations calibrated on ``feeds`` (dicts of input name -> array). Activations are
    symmetric INT8, or asymmetric UINT8 with ``unsigned_activations``; ``op_types`` None quantizes
    every op ONNX Runtime can; nodes named in ``exclude`` stay float."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._feeds = iter(feeds)

        def get_next(self):
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_bytes)
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8 if unsigned_activations else QuantType.QInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=list(op_types) if op_types else None,
                        nodes_to_exclude=list(exclude),
                        extra_options={"ActivationSymmetric": not unsigned_activations, "WeightSymmetric": True,
                                       "QuantizeBias": False})
        return dst.read_bytes()


def to_int8(onnx_bytes: bytes, num_styles: int, keep_float: tuple[str, ...] = ()) -> bytes:
    """INT8 QDQ by static post-training quantization (see the module docstring for the settings)."""
    return quantize_qdq(onnx_bytes, calibration_inputs(num_styles),
                        exclude=style_path_nodes(onnx_bytes) + list(keep_float))


# -- measurement --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)  # measurements open several sessions per graph; parse each graph once
def _input_dtype(onnx_bytes: bytes):
    import onnx
    elem = onnx.load_from_string(onnx_bytes).graph.input[0].type.tensor_type.elem_type
    return np.float16 if elem == onnx.TensorProto.FLOAT16 else np.float32


def _session(onnx_bytes: bytes, style: np.ndarray | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # FP16 graphs on the CPU warn once per conv that cannot be constant-folded
    dtype = _input_dtype(onnx_bytes)
    model = onnx_bytes if style is None else input_to_constant(onnx_bytes, "style", style.astype(dtype))
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    session.input_dtype = dtype  # feeds are cast to what the graph declares
    return session


def _run_rgb(session, rgb: np.ndarray, style: np.ndarray, stride: int = 4) -> np.ndarray:
    """One RGB photo through a bare session with the SDK's own pre/post-processing and working size."""
    size = working_size(*rgb.shape[:2], stride, 1280, 16)
    feeds = {"image": frames.preprocess(rgb, size, "rgb"), "style": style}
    y = session.run(None, {k: v.astype(session.input_dtype) for k, v in feeds.items()})[0]
    return frames.postprocess(y.astype(np.float32), rgb, 1.0, "rgb")


def cpu_latencies_ms(blobs: dict[str, bytes], size_wh: tuple[int, int], num_styles: int,
                     rounds: int = 30) -> dict[str, float]:
    """Median latency of every model, as the SDK runs it (one style-specialized session alive at a
    time). Measured in three passes over all models, so a change in the machine's speed during the
    measurement (a shared VM's neighbours) spreads over every model alike instead of favouring one."""
    style = np.eye(num_styles, dtype=np.float32)[0].reshape(1, -1, 1, 1)
    times: dict[str, list[float]] = {name: [] for name in blobs}
    for _ in range(3):
        for name, blob in blobs.items():
            session = _session(blob, style)
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
    for size, key, rounds in (((640, 360), "cpu_ms_640x360", 30), ((1280, 720), "cpu_ms_1280x720", 10)):
        for name, ms in cpu_latencies_ms(blobs, size, num_styles, rounds).items():
            variants[name][key] = ms


def fidelity(onnx_bytes: bytes, reference_bytes: bytes, styles: list[str]) -> dict[str, float]:
    """PSNR/SSIM of this variant's output against the reference's, on held-out photos, every style."""
    from skimage.metrics import structural_similarity

    ours, ref = _session(onnx_bytes), _session(reference_bytes)
    psnrs, ssims = [], []
    for image in photos.load_set(photos.HELD_OUT):
        for s in range(len(styles)):
            style = np.eye(len(styles), dtype=np.float32)[s].reshape(1, -1, 1, 1)
            a, b = _run_rgb(ours, image, style), _run_rgb(ref, image, style)
            psnrs.append(min(evaluate.psnr(a, b), 99.0))
            ssims.append(structural_similarity(a, b, channel_axis=2, data_range=255))
    return {"psnr_db": round(float(np.mean(psnrs)), 2), "psnr_min_db": round(float(np.min(psnrs)), 2),
            "ssim": round(float(np.mean(ssims)), 4)}


def look_gains(onnx_bytes: bytes, styles: list[str]) -> dict[str, float]:
    session = _session(onnx_bytes)
    known = [s for s in styles if s in looks.LOOKS]

    def run(rgb, style):
        return _run_rgb(session, rgb, np.eye(len(styles), dtype=np.float32)[styles.index(style)].reshape(1, -1, 1, 1))

    return {s: row["gain_db"] for s, row in evaluate.look_table(run, known).items()}


@functools.lru_cache(maxsize=8)
def look_closures(onnx_bytes: bytes, styles: tuple[str, ...]) -> dict[str, float]:
    """Mean closure of each style with a reference filter, on the bundled held-out photos."""
    from trainer import closure
    session = _session(onnx_bytes)
    test, plain, look_side, _ = evaluate.looks_sets(corpus_root=Path("/nonexistent-corpus"))
    known = [s for s in styles if s in looks.LOOKS]

    def run(rgb, style):
        return _run_rgb(session, rgb, np.eye(len(styles), dtype=np.float32)[styles.index(style)].reshape(1, -1, 1, 1))

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

def package_files(package: ModelPackage) -> dict[str, bytes]:
    return {name: (package.path / name).read_bytes() for name in package.manifest["files"]}


def variants_of(package: ModelPackage) -> dict[str, dict]:
    """``manifest["variants"]``, with the FP32 file as the "fp32" variant when none are recorded yet."""
    variants = copy.deepcopy(package.manifest.get("variants", {}))
    if "fp32" not in variants:
        model = package.manifest["model"]
        variants["fp32"] = {"file": package.manifest["precisions"]["fp32"], "precision": "fp32", "pruned_from": None,
                            "parameters": model["parameters"], "macs_1280x720": model["macs_1280x720"]}
    return variants


def write_variants(package: ModelPackage, out: str | Path, new_files: dict[str, bytes], variants: dict[str, dict],
                   command: str) -> ModelPackage:
    """A package (``out``, may be ``package.path``) with the extra files and the variant table."""
    files = package_files(package)
    files.update(new_files)
    manifest = {k: v for k, v in package.manifest.items() if k not in ("format", "format_version", "files")}
    # Latencies measured one variant at a time drift with the machine; the choice needs them comparable.
    _record({name: files[v["file"]] for name, v in variants.items()}, variants, len(package.style_names))
    manifest["variants"] = variants
    manifest["precisions"] = {v["precision"]: v["file"] for v in variants.values() if v.get("pruned_from") is None}
    manifest.setdefault("compression", []).append(command)
    return write_package(out, files, manifest)


def prune_package(package_path: str | Path | None, out: str | Path, targets: list[float], iterations: int = 600,
                  command: str = "", progress: bool = True) -> ModelPackage:
    """Add a distilled ``pruned<NN>`` FP32 variant per MACs target."""
    from trainer.export import check_against_onnxruntime, to_onnx

    package = load_package(package_path)
    styles = list(package.style_names)
    teacher = generator_from_package(package)
    reference = package.file("fp32").read_bytes()
    full_macs = count_macs(teacher, 720, 1280)
    variants, files = variants_of(package), {}
    variants["fp32"].update(measure(reference, reference, styles, "fp32"))
    for target in targets:
        name = f"pruned{round(target * 100):02d}"
        student = prune(teacher, target)
        history = distill(student, teacher, iterations=iterations, progress=progress)
        student.eval()
        blob = to_onnx(student)
        check_against_onnxruntime(student, blob, styles)
        file = f"generator.{name}.onnx"
        files[file] = blob
        macs = count_macs(student, 720, 1280)
        variants[name] = {"file": file, "precision": "fp32", "pruned_from": "fp32", "macs_target": target,
                          "parameters": count_parameters(student), "macs_1280x720": macs,
                          "macs_fraction": round(macs / full_macs, 4), "channels": conv_channels(student),
                          "distill": {"iterations": iterations, "first_loss": round(history[0], 5),
                                      "last_loss": round(float(np.mean(history[-20:])), 5)},
                          **measure(blob, reference, styles, name)}
    return write_variants(package, out, files, variants, command)


def quantize_package(package_path: str | Path | None, out: str | Path, command: str = "") -> ModelPackage:
    """Add FP16 and INT8 files for every FP32 variant (the unpruned one and each pruned one)."""
    package = load_package(package_path)
    styles = list(package.style_names)
    reference = package.file("fp32").read_bytes()
    variants, files = variants_of(package), {}
    if "fidelity" not in variants["fp32"]:
        variants["fp32"].update(measure(reference, reference, styles, "fp32"))
    for base_name, base in list(variants.items()):
        if base["precision"] != "fp32":
            continue
        blob = (package.path / base["file"]).read_bytes()
        stem = "" if base_name == "fp32" else f"{base_name}-"
        for precision, convert in (("fp16", to_fp16), ("int8", lambda b: to_int8(b, len(styles)))):
            name = f"{stem}{precision}"
            file = f"generator.{name.replace('-', '.')}.onnx"
            files[file] = convert(blob)
            kind = f"{base_name}-{precision}" if stem else precision
            variants[name] = {"file": file, "precision": precision,
                              "pruned_from": base.get("pruned_from") and base_name,
                              "parameters": base["parameters"], "macs_1280x720": base["macs_1280x720"],
                              **({"macs_fraction": base["macs_fraction"]} if "macs_fraction" in base else {}),
                              **measure(files[file], reference, styles, kind)}
    return write_variants(package, out, files, variants, command)


def report(package_path: str | Path | None, out_dir: str | Path, remeasure: bool = True) -> str:
    """Markdown table (and a PNG plot) of every variant: size, MACs, CPU latency, fidelity."""
    package = load_package(package_path)
    styles = list(package.style_names)
    variants = variants_of(package)
    if remeasure:  # one round-robin run for every latency: comparable numbers
        record_latencies(package.path, variants, len(styles))
    rows = list(variants.items())
    base_ms = dict(rows)["fp32"]["cpu_ms_640x360"]
    lines = ["| variant | file | params | MACs 720p (G) | size (KB) | CPU 360p (ms) | CPU 720p (ms) | speed-up 360p | "
             "PSNR vs FP32 (dB) | SSIM vs FP32 | look closure (min over styles) | passes floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in rows:
        fid = v.get("fidelity", {})
        closures = v.get("look_closure", {})
        lines.append(f"| {name} | {v['file']} | {v['parameters']:,} | {v['macs_1280x720'] / 1e9:.3f} | "
                     f"{(package.path / v['file']).stat().st_size / 1024:.0f} | {v['cpu_ms_640x360']:.2f} | "
                     f"{v['cpu_ms_1280x720']:.2f} | {base_ms / v['cpu_ms_640x360']:.2f}x | "
                     f"{fid.get('psnr_db', float('nan')) if name != 'fp32' else 'reference'} | "
                     f"{fid.get('ssim', float('nan')) if name != 'fp32' else 'reference'} | "
                     f"{min(closures.values()) if closures else float('nan'):.3f} | {'yes' if v.get('passes_floor') else 'no'} |")
    table = "\n".join(lines)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    floors = (f"Floors: PSNR against the FP32 model >= {FLOORS['quantized_psnr_db']:.0f} dB for quantized, "
              f">= {FLOORS['pruned_psnr_db']:.0f} dB for pruned variants, and every style's closure to its look "
              f"(held-out photos) at most {FLOORS['closure_drop']} below the FP32 model's.")
    (out_dir / "compress.md").write_text(f"# Compression report: {package.path.name}\n\n{table}\n\n{floors}\n")
    _plot(rows, out_dir / "compress.png")
    (out_dir / "compress.json").write_text(json.dumps(dict(rows), indent=2))
    return table + "\n\n" + floors


def _plot(rows: list[tuple[str, dict]], path: Path) -> None:
    """CPU latency at 640x360 against fidelity, one labelled point per variant (OpenCV drawing, no matplotlib)."""
    w, h, margin = 900, 560, 80
    canvas = np.full((h, w, 3), 255, np.uint8)
    measured = [v["fidelity"]["psnr_db"] for n, v in rows if n != "fp32"] or [40.0]
    top = max(measured) + 4  # the FP32 reference is drawn above every variant
    points = [(n + " (reference)" if n == "fp32" else n, v["cpu_ms_640x360"], top if n == "fp32" else
               v["fidelity"]["psnr_db"]) for n, v in rows]
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    x0, x1 = 0.0, max(xs) * 1.25
    y0, y1 = min(min(ys), 25.0) - 2, top + 3

    def to_px(x, y):
        return int(margin + (x - x0) / (x1 - x0) * (w - 2 * margin)), int(h - margin - (y - y0) / (y1 - y0) * (h - 2 * margin))

    cv2.rectangle(canvas, to_px(x0, y0), to_px(x1, y1), (0, 0, 0), 1)
    for floor, colour in ((FLOORS["quantized_psnr_db"], (0, 140, 255)), (FLOORS["pruned_psnr_db"], (0, 0, 220))):
        cv2.line(canvas, to_px(x0, floor), to_px(x1, floor), colour, 1, cv2.LINE_AA)
        cv2.putText(canvas, f"floor {floor:.0f} dB", to_px(x0, floor + 0.4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    for name, x, y in points:
        cv2.circle(canvas, to_px(x, y), 6, (180, 80, 0), -1, cv2.LINE_AA)
        cv2.putText(canvas, name, (to_px(x, y)[0] + 9, to_px(x, y)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(canvas, "ONNX Runtime CPU ms at 640x360 (lower is faster)", (margin, h - 30), cv2.FONT_HERSHEY_SIMPLEX,
                0.55, (0, 0, 0), 1)
    cv2.putText(canvas, "PSNR vs FP32 model (dB)", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    for tick in np.linspace(x0, x1, 6):
        cv2.putText(canvas, f"{tick:.1f}", (to_px(tick, y0)[0] - 10, h - margin + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1)
    for tick in range(int(math.ceil(y0 / 5) * 5), int(y1) + 1, 5):
        cv2.putText(canvas, f"{tick}", (margin - 35, to_px(x0, tick)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.imwrite(str(path), canvas)
