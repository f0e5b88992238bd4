"""Check a freshly built reduced-precision engine against the FP32 model before it is cached.

FP16 overflow in other projects' generators shows up as NaN or black frames only at run time;
here an FP16 (or INT8) engine is run on photos at the working resolution, every style, and
compared with ONNX Runtime running the package's FP32 ONNX on the CPU. An engine that produces a
non-finite value or strays beyond the tolerance is refused (not cached) with the numbers.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from sdk.errors import EngineBuildError

# In units of the model's [-1, 1] output: 0.02 is 2.5 uint8 steps on average; 0.25 is 32 steps.
MEAN_TOLERANCE = 0.02
MAX_OUTLIER_FRACTION = 0.001
OUTLIER = 0.25


def check_images(size_hw: tuple[int, int]) -> list[np.ndarray]:
    """Two photos (scikit-image's, where installed) or two synthetic scenes, as (1, 3, h, w) float32 in [-1, 1]."""
    import cv2
    h, w = size_hw
    try:
        import skimage.data as data
        images = [data.astronaut(), data.coffee()]
    except ImportError:  # runtime installs need no scikit-image: gradients, shapes and noise instead
        rng = np.random.default_rng(0)
        images = []
        for _ in range(2):
            y, x = np.mgrid[0:256, 0:256]
            base = np.stack([x, y, (x + y) // 2], -1).astype(np.float32)
            image = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
            for _ in range(8):
                cv2.circle(image, tuple(int(v) for v in rng.integers(0, 256, 2)), int(rng.integers(8, 64)),
                           tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
            images.append(image)
    out = []
    for image in images:
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
        out.append(np.ascontiguousarray(resized.transpose(2, 0, 1)[None]))
    return out


def verify_engine(run_engine: Callable[[np.ndarray, np.ndarray], np.ndarray], package, size_hw: tuple[int, int],
                  precision: str, styles: Iterable[int] | None = None) -> dict:
    """Compare ``run_engine(image, style) -> (1, 3, h, w)`` with ONNX Runtime FP32; raise if it fails.

    ``styles``: the indices checked (default all; an engine of a lean file serves only the styles before the
    added ones). Returns ``{"mean_abs", "max_abs", "outlier_fraction"}`` over every image and style checked.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(package.file("fp32").read_bytes(), providers=["CPUExecutionProvider"])
    names = package.manifest["input"]["name"], package.manifest["style_input"]["name"]
    n = len(package.styles)
    errors = []
    for image in check_images(size_hw):
        for s in (range(n) if styles is None else styles):
            style = np.eye(n, dtype=np.float32)[s].reshape(1, n, 1, 1)
            reference = session.run(None, {names[0]: image, names[1]: style})[0]
            got = np.asarray(run_engine(image, style), dtype=np.float32)
            if got.shape != reference.shape:
                raise EngineBuildError(f"the {precision} engine returned shape {got.shape}, expected {reference.shape}")
            if not np.isfinite(got).all():
                raise EngineBuildError(
                    f"the {precision} engine produced {int((~np.isfinite(got)).sum())} non-finite values at "
                    f"{size_hw[1]}x{size_hw[0]} for style {package.style_names[s]!r} (overflow); it was not cached. "
                    "Use precision='fp32' for this model.")
            errors.append(np.abs(got - reference))
    diff = np.concatenate([e.ravel() for e in errors])
    stats = {"mean_abs": float(diff.mean()), "max_abs": float(diff.max()),
             "outlier_fraction": float((diff > OUTLIER).mean())}
    if stats["mean_abs"] > MEAN_TOLERANCE or stats["outlier_fraction"] > MAX_OUTLIER_FRACTION:
        raise EngineBuildError(
            f"the {precision} engine differs from the FP32 model on ONNX Runtime at {size_hw[1]}x{size_hw[0]}: mean "
            f"abs {stats['mean_abs']:.4f} (tolerance {MEAN_TOLERANCE}), {stats['outlier_fraction']:.2%} of values off "
            f"by more than {OUTLIER} (tolerance {MAX_OUTLIER_FRACTION:.1%}); it was not cached. "
            "Use precision='fp32' for this model.")
    return stats
