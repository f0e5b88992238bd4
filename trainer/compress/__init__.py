"""Compression between training and deployment: full -> pruned -> quantized -> ONNX, in numbers.

One module a rung: ``prune`` (channels, distillation), ``quantize`` (FP16, INT8), ``metrics`` (fidelity,
closure, latency, the floors), ``variants`` (the package's variant table), ``report`` (the table and plot).

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

from trainer.compress.metrics import FLOORS, cpu_latencies_ms, fidelity, look_closures, measure, record_latencies
from trainer.compress.prune import conv_channels, distill, prune, prune_package
from trainer.compress.quantize import calibration_inputs, quantize_package, quantize_qdq, style_path_nodes, to_fp16, to_int8
from trainer.compress.report import report
from trainer.compress.variants import variants_of, write_variants

__all__ = ["FLOORS", "calibration_inputs", "conv_channels", "cpu_latencies_ms", "distill", "fidelity", "look_closures",
           "measure", "prune", "prune_package", "quantize_package", "quantize_qdq", "record_latencies", "report",
           "style_path_nodes", "to_fp16", "to_int8", "variants_of", "write_variants"]
