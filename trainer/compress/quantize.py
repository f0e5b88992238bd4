"""FP16 and INT8 (static QDQ, calibrated on real photos) ONNX files of every FP32 variant."""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from sdk.package import ModelPackage, load_package
from trainer import photos
from trainer.compress.metrics import measure
from trainer.compress.variants import variants_of, write_variants


def to_fp16(onnx_bytes: bytes) -> bytes:
    """FP16 weights, compute, inputs and outputs; for GPUs (TensorRT). ONNX Runtime's CPU runs it slowly."""
    import onnx
    from onnxconverter_common import float16

    # FP16 inputs and outputs too: the GPU preprocess kernel writes FP16 directly, no cast pass.
    model = float16.convert_float_to_float16(onnx.load_from_string(onnx_bytes), keep_io_types=False)
    return model.SerializeToString()


def calibration_inputs(num_styles: int, size_wh: tuple[int, int] = (640, 360),
                       calibrated_styles: int | None = None) -> list[dict[str, np.ndarray]]:
    """Real photos (not held out) at the working resolution, every style: the activation ranges seen in use.
    ``calibrated_styles``: only the first ones (a widened package keeps the ranges of its old styles)."""
    feeds = []
    for image in photos.load_set(photos.CONTENT + photos.STYLE):
        x = (cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        for s in range(num_styles if calibrated_styles is None else calibrated_styles):
            feeds.append({"image": x, "style": np.eye(num_styles, dtype=np.float32)[s].reshape(1, -1, 1, 1)})
    return feeds


def with_activation_scales_of(onnx_bytes: bytes, reference: bytes) -> bytes:
    """``onnx_bytes`` (a QDQ model) with every per-tensor scale and zero point that ``reference`` (the same
    network before add-style grew it) also holds set to the reference's value. Calibration sees a grown
    colour head's owned channels before their style gate: their raw conv outputs widen that tensor's
    range, which would re-quantize, and so change, every old style's channels of it. The owned channels
    are then clipped to the old range, which only the new style feels (its fidelity gate measures it)."""
    import onnx

    model, ref = onnx.load_from_string(onnx_bytes), onnx.load_from_string(reference)
    scalars = {t.name: t for t in ref.graph.initializer if len(t.dims) == 0}
    for tensor in model.graph.initializer:
        if len(tensor.dims) == 0 and tensor.name.endswith(("_scale", "_zero_point")) and tensor.name in scalars \
                and tensor.data_type == scalars[tensor.name].data_type:
            tensor.CopyFrom(scalars[tensor.name])
    return model.SerializeToString()


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


def ink_path_nodes(onnx_bytes: bytes) -> list[str]:
    """The ink path's fixed convs (generator.INK_FIXED): left in float, as an INT8 threshold would move its lines."""
    import onnx
    from trainer.models.generator import INK_FIXED

    graph = onnx.load_from_string(onnx_bytes).graph
    return [node.name for node in graph.node if any(name.startswith(INK_FIXED) for name in node.input)]


def to_int8(onnx_bytes: bytes, num_styles: int, keep_float: tuple[str, ...] = ()) -> bytes:
    """INT8 QDQ by static post-training quantization (see the module docstring for the settings)."""
    return quantize_qdq(onnx_bytes, calibration_inputs(num_styles),
                        exclude=style_path_nodes(onnx_bytes) + ink_path_nodes(onnx_bytes) + list(keep_float))


# -- measurement --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)  # measurements open several sessions per graph; parse each graph once


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
