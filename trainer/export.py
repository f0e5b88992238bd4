"""Generator <-> package, in one place: a checkpoint exported to a model package (fold norms, ONNX, verify,
measure, manifest), and a package's FP32 ONNX read back into the deploy-structured generator."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import torch

import trainer
from sdk import frames
from sdk.frames import working_size
from sdk.package import ModelPackage, write_package
from trainer import closure, evaluate, looks, photos
from trainer.models.generator import Generator, GeneratorConfig, count_macs, count_parameters, style_vector
from trainer.train import load_checkpoint

OPSET = 18  # TensorRT 10.3 (JetPack 6) parses up to opset 20
ONNX_TOLERANCE = 1e-3  # max abs difference, outputs in [-1, 1]
DEFAULT_MAX_SIDE = 1280
DEFAULT_MIN_SIDE = 16


class ExportMismatchError(RuntimeError):
    pass


def generator_from_checkpoint(path: str | Path, ckpt: dict | None = None) -> tuple[Generator, list[str], dict]:
    """The checkpoint's averaged generator (eval mode), its style names and its config."""
    ckpt = ckpt if ckpt is not None else load_checkpoint(Path(path))
    raw = json.loads(ckpt["config"])
    styles = json.loads(ckpt["styles"])
    model_cfg = {k: v for k, v in raw["model"].items() if k != "styles"}
    generator = Generator(GeneratorConfig(num_styles=len(styles), **model_cfg))
    if raw.get("train", {}).get("init_package"):
        generator = generator.deploy()  # started from a package: trained in its folded structure
    generator.load_state_dict(ckpt.get("generator_ema", ckpt["generator"]))  # the averaged weights
    return generator.eval(), styles, raw


def generator_from_package(package: ModelPackage, variant: str = "fp32") -> Generator:
    """The deploy-structured generator (BatchNorm folded) with the weights of one of the package's FP32
    files: the unpruned one, or a pruned variant (its convs sized as the file's weights are)."""
    path = package.path / package.variants[variant]["file"] if variant != "fp32" else package.file("fp32")
    return generator_from_onnx(GeneratorConfig(**package.manifest["model"]["config"]), path.read_bytes(), str(path))


def resize_convs(model: Generator, shapes: dict[str, tuple[int, ...]]) -> None:
    """Give every conv the channel counts of ``shapes[name + '.weight']`` (what pruning kept)."""
    for name, conv in list(model.named_modules()):
        shape = shapes.get(name + ".weight")
        if not isinstance(conv, torch.nn.Conv2d) or shape is None or tuple(conv.weight.shape) == tuple(shape):
            continue
        depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
        groups = shape[0] if depthwise else conv.groups
        resized = torch.nn.Conv2d(shape[1] * groups, shape[0], conv.kernel_size, conv.stride, conv.padding,
                                  groups=groups, bias=conv.bias is not None)
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, resized)


def generator_from_onnx(config: GeneratorConfig, onnx_bytes: bytes, where: str = "ONNX") -> Generator:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_bytes).graph
    arrays = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    model = Generator(config).deploy()
    resize_convs(model, {k: tuple(v.shape) for k, v in arrays.items()})
    reference = model.state_dict()
    keys = set(reference)
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
            raise ValueError(f"{where}: no initializer {key!r}; the package does not match its config")
        # The ONNX optimizer drops all-zero conv biases (e.g. a fresh output affine): zero is exact.
        weights[key] = torch.zeros_like(reference[key])
    model.load_state_dict(weights, strict=True)
    return model.eval()


def package_files(package: ModelPackage) -> dict[str, bytes]:
    return {name: (package.path / name).read_bytes() for name in package.manifest["files"]}


def to_onnx(model: Generator) -> bytes:
    """ONNX bytes of the deploy graph; H and W dynamic in multiples of the stride."""
    n = model.config.num_styles
    example = (torch.rand(1, 3, 64, 96) * 2 - 1, style_vector(0, n))
    stride = model.config.stride
    h = torch.export.Dim("h", min=1, max=4096) * stride
    w = torch.export.Dim("w", min=1, max=4096) * stride
    buffer = io.BytesIO()
    program = torch.onnx.export(model, example, None, input_names=["image", "style"], output_names=["stylized"],
                                dynamic_shapes=({2: h, 3: w}, None), opset_version=OPSET, dynamo=True,
                                external_data=False, verbose=False)
    program.save(buffer, external_data=False)
    return buffer.getvalue()


def check_against_onnxruntime(model: Generator, onnx_bytes: bytes, styles: list[str]) -> float:
    """Max abs difference PyTorch vs ONNX Runtime on real photos (every style); raises above tolerance."""
    import onnxruntime as ort
    import cv2

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    worst = 0.0
    for name in photos.HELD_OUT[:3]:
        image = photos.load_photo(name)
        h, w = (image.shape[0] // 4) * 4, (image.shape[1] // 4) * 4
        x = torch.from_numpy(cv2.resize(image, (w, h)).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
        for s in range(len(styles)):
            style = style_vector(s, len(styles))
            with torch.no_grad():
                expected = model(x, style).numpy()
            got = session.run(["stylized"], {"image": x.numpy(), "style": style.numpy()})[0]
            worst = max(worst, float(np.abs(got - expected).max()))
    if worst > ONNX_TOLERANCE:
        raise ExportMismatchError(f"ONNX Runtime differs from PyTorch by {worst:.2e} (tolerance {ONNX_TOLERANCE:.0e}); "
                                  "the export is wrong, the package was not written.")
    return worst


def export_package(checkpoint: str | Path, out: str | Path, name: str = "default",
                   command: str | None = None, measure_quality: bool = True) -> ModelPackage:
    ckpt = load_checkpoint(Path(checkpoint))
    model, styles, raw = generator_from_checkpoint(checkpoint, ckpt)
    deploy = model.deploy()
    onnx_bytes = to_onnx(deploy)
    max_diff = check_against_onnxruntime(deploy, onnx_bytes, styles)
    manifest = {
        "name": name,
        "styles": [{"name": s, "index": i, "description": (looks.LOOKS[s].__doc__ or "").strip().split("\n")[0]
                    if s in looks.LOOKS else ""} for i, s in enumerate(styles)],
        "input": {"name": "image", "layout": "NCHW", "dtype": "float32", "color": "RGB", "range": [-1.0, 1.0],
                  "normalize": "x = pixel / 127.5 - 1"},
        "style_input": {"name": "style", "shape": [1, len(styles), 1, 1], "dtype": "float32",
                        "meaning": "weights of each style, one-hot or a mix summing to 1"},
        "output": {"name": "stylized", "layout": "NCHW", "dtype": "float32", "color": "RGB", "range": [-1.0, 1.0]},
        "stride": model.config.stride,
        "native_resolution": [raw["train"].get("crop", 128)] * 2,
        "working_resolution": {"max_side": DEFAULT_MAX_SIDE, "min_side": DEFAULT_MIN_SIDE},
        "precisions": {"fp32": "generator.onnx"},
        "model": {"architecture": "trainer.models.generator.Generator", "config": model.config.to_dict(),
                  "parameters": count_parameters(deploy), "macs_640x360": count_macs(deploy, 360, 640),
                  "macs_1280x720": count_macs(deploy, 720, 1280), "onnx_opset": OPSET,
                  "onnxruntime_max_abs_diff": max_diff},
        "trainer": {"version": trainer.__version__, "command": command or " ".join(sys.argv),
                    "config": raw, "checkpoint_iteration": int(ckpt["iteration"])},
    }
    if measure_quality:
        psnr_table, closure_summary = _quality(deploy, styles)
        manifest["quality"] = {"look_psnr_held_out": psnr_table, "closure_held_out": closure_summary,
                               "photos": list(photos.HELD_OUT)}
    return write_package(out, {"generator.onnx": onnx_bytes}, manifest)


def _quality(model: Generator, styles: list[str]) -> dict:
    known = [s for s in styles if s in looks.LOOKS]

    def run(rgb: np.ndarray, style: str) -> np.ndarray:
        # The SDK's own working size and pre/post-processing, with the PyTorch model in the middle.
        size = working_size(*rgb.shape[:2], model.config.stride, DEFAULT_MAX_SIDE, DEFAULT_MIN_SIDE)
        x = torch.from_numpy(frames.preprocess(rgb, size, "rgb"))
        with torch.no_grad():
            y = model(x, style_vector(styles.index(style), len(styles))).numpy()
        return frames.postprocess(y, rgb, 1.0, "rgb")

    test, plain, look_side, _ = evaluate.looks_sets(corpus_root=_NO_CORPUS)
    table = closure.closure_table(run, known, test, plain, look_side, looks.get_look)
    summary = {s: {"model": round(e["model"]["mean"], 4), "model_worst": round(e["model"]["worst"], 4),
                   "baseline": round(e["baseline"]["mean"], 4)} for s, e in table.items()}
    return evaluate.look_table(run, known), summary


# The manifest's table is measured on the bundled held-out photos, the same on every machine; the corpus's
# test split is what `python -m trainer evaluate` reports.
_NO_CORPUS = Path("/nonexistent-corpus")
