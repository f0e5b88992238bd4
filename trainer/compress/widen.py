"""A package's compressed variants, widened by the style that add-style trained into its FP32 model.

Adding a look must change nothing else: every pruned variant gains the new style's column in each
per-style scale and shift, trained by distillation from the widened FP32 model on the new style
alone (everything else frozen, so the old styles compute exactly what they did); each FP16 and
INT8 file is remade from its widened FP32 source, the INT8 ones calibrated on the old styles only,
so their activation ranges, and with them every old style's pixels, stay as they were. Each file
is checked to serve the old styles bit-identically to the base package's, as the SDK runs them
(style-specialized ONNX Runtime sessions). The recorded latencies and layout stay the base's: the
networks are the same size, so ``precision="auto"`` picks what it picked before. A new style that owns
colour-head channels (``add-style --own-channels``) grows every variant by as many: its INT8 files then
keep the base's activation scales, and the caller measures the latencies anew (the layout stays).
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from trainer import evaluate, photos
from trainer.add_style import clamp_owned_outputs, new_style_parameters, widen_owning
from trainer.data import UnpairedCrops
from trainer.compress.metrics import FLOORS, ort_session, run_rgb
from trainer.compress.quantize import (calibration_inputs, ink_path_nodes, quantize_qdq, style_path_nodes, to_fp16,
                                      with_activation_scales_of)
from trainer.export import generator_from_package, to_onnx
from trainer.models.generator import Generator, count_macs, count_parameters, style_vector


class VariantMismatchError(RuntimeError):
    """A widened variant does not serve an old style bit-identically (a bug, never a user error)."""


def distill_new_style(student: Generator, teacher: Generator, content: list[np.ndarray],
                      iterations: int, batch: int = 8, crop: int = 96, lr: float = 5e-3,
                      seed: int = 0, owned: int = 0) -> list[float]:
    """Train only the student's new-style column (and its ``owned`` colour-head channels) toward the
    teacher's new style (L1 on pixels)."""
    n = student.config.num_styles
    params = new_style_parameters(student, owned)
    optimizer = torch.optim.Adam(params, lr=lr)
    data = UnpairedCrops(content, [], crop, seed)
    style = style_vector(n - 1, n, batch)
    losses = []
    student.train(False)  # deploy structure: no BatchNorm, so train/eval only matters for clarity
    for _ in range(iterations):
        x = data.sample_content(batch)
        with torch.no_grad():
            target = teacher(x, style)
        loss = F.l1_loss(student(x, style), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        clamp_owned_outputs(student, owned)
        losses.append(loss.item())
    student.requires_grad_(False)
    return losses


def _nearest_style(student: Generator, teacher: Generator, content: list[np.ndarray]) -> int:
    """The old style whose student output is nearest the teacher's new style: the column to start from."""
    n = teacher.config.num_styles
    x = UnpairedCrops(content, [], 96, seed=1).sample_content(8)
    with torch.no_grad():
        target = teacher(x, style_vector(n - 1, n, 8))
        gaps = [float((student(x, style_vector(k, n - 1, 8)) - target).abs().mean()) for k in range(n - 1)]
    return int(np.argmin(gaps))


def _run(blob: bytes, style_index: int, num_styles: int, images: list[np.ndarray], nchwc: bool) -> list[np.ndarray]:
    """RGB outputs as the SDK computes them: a style-specialized session, the SDK's pre/post steps."""
    session = ort_session(blob, np.eye(num_styles, dtype=np.float32)[style_index].reshape(1, -1, 1, 1), nchwc)
    return [run_rgb(session, image, None) for image in images]


def _old_styles_unchanged(name: str, base_blob: bytes, blob: bytes, old_styles: int, images, nchwc: bool) -> None:
    for k in range(old_styles):
        before = _run(base_blob, k, old_styles, images, nchwc)
        after = _run(blob, k, old_styles + 1, images, nchwc)
        for a, b in zip(before, after):
            if not np.array_equal(a, b):
                raise VariantMismatchError(f"variant {name!r}: old style {k} changed by up to "
                                           f"{int(np.abs(a.astype(int) - b).max())}/255 when widened")


def _new_style_psnr(blob: bytes, reference: list[np.ndarray], num_styles: int, images, nchwc: bool) -> float:
    ours = _run(blob, num_styles - 1, num_styles, images, nchwc)
    return round(float(np.mean([min(evaluate.psnr(a, b), 99.0) for a, b in zip(ours, reference)])), 2)


def widen_variants(package, model: Generator, reference_blob: bytes, content: list[np.ndarray],
                   iterations: int, seed: int = 0, log=None, owned: int = 0
                   ) -> tuple[dict[str, bytes], dict[str, dict]]:
    """Files and manifest records of every variant of ``package`` but the FP32 one, widened by the
    new style of ``model`` (its FP32 generator, whose ONNX is ``reference_blob``), which owns ``owned``
    colour-head channels (each pruned variant gets as many). A package without variants gives none.
    With owned channels the networks grow: each record's parameters and MACs are counted anew (its
    latencies are the caller's to re-measure)."""
    base_variants = package.variants
    old = len(package.style_names)
    n = model.config.num_styles
    held_out = photos.load_set(photos.HELD_OUT)
    fp32_blobs = {"fp32": reference_blob}
    reference = _run(reference_blob, n - 1, n, held_out, True)
    calibration = None  # built once, for the first INT8 variant
    files, records = {}, {}
    sizes = {"fp32": (count_parameters(model), count_macs(model, 720, 1280))}
    for name, entry in base_variants.items():
        if name == "fp32" or entry["precision"] != "fp32":
            continue
        start = time.time()
        pruned = generator_from_package(package, name)
        student, _ = widen_owning(pruned, _nearest_style(pruned, model, content), owned, seed)
        history = distill_new_style(student, model, content, iterations, seed=seed, owned=owned)
        fp32_blobs[name] = to_onnx(student.eval())
        sizes[name] = (count_parameters(student), count_macs(student, 720, 1280))
        if log:
            log(f"{name}: new style distilled in {time.time() - start:.0f} s (L1 {history[0]:.4f} -> {history[-1]:.4f})")
    for name, entry in base_variants.items():
        if name == "fp32":
            continue
        source = name if entry["precision"] == "fp32" else (entry.get("pruned_from") or "fp32")
        base_blob = (package.path / entry["file"]).read_bytes()
        if entry["precision"] == "fp32":
            blob = fp32_blobs[name]
        elif entry["precision"] == "fp16":
            blob = to_fp16(fp32_blobs[source])
        else:
            if calibration is None:
                calibration = calibration_inputs(n, calibrated_styles=old)
            blob = quantize_qdq(fp32_blobs[source], calibration,
                                exclude=style_path_nodes(fp32_blobs[source]) + ink_path_nodes(fp32_blobs[source]))
            if owned:
                blob = with_activation_scales_of(blob, base_blob)
        nchwc = bool(entry.get("onnxruntime_nchwc", True))
        _old_styles_unchanged(name, base_blob, blob, old, held_out[:1], nchwc)
        record = copy.deepcopy(entry)
        record["bytes"] = len(blob)
        if owned:
            record["parameters"], record["macs_1280x720"] = sizes[source]
            if "macs_fraction" in record:
                record["macs_fraction"] = round(sizes[source][1] / sizes["fp32"][1], 4)
        psnr = _new_style_psnr(blob, reference, n, held_out, nchwc)
        floor = FLOORS["pruned_psnr_db"] if "pruned" in name else FLOORS["quantized_psnr_db"]
        record["new_style_psnr_db"] = psnr  # against the widened FP32 model, on the held-out photos
        # The old styles are bit-identical, so the variant passes for them as it did; a new style under the
        # floor is listed, and the SDK serves it (and any mix with it) from a variant that passes for it, so
        # `auto` keeps its choice for the old styles.
        if psnr < floor:
            record["styles_below_floor"] = [*entry.get("styles_below_floor", []), n - 1]
        files[entry["file"]], records[name] = blob, record
        if log:
            log(f"{name}: new style {psnr:.2f} dB against FP32 (floor {floor:.0f}); old styles bit-identical")
    return files, records
