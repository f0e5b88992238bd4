"""What every backend offers the Stylizer, declared once.

:class:`Backend` is the interface: ``run`` (the generator on a preprocessed image) for every backend, and
the whole-frame GPU calls with their "not here" defaults (``stylize_frame``/``submit_frame`` return
``None``, the flags are False), so the Stylizer calls them directly instead of probing.
:class:`FramePipelineBackend` implements those calls once for the GPU backends, on the frame pipeline
they share (``sdk.cuda.pipeline.TorchCudaPipeline``: fused kernels around the model, two slots).
"""
from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class Backend(ABC):
    """Runs the generator: ``run(image, style) -> stylized``.

    ``image``: (1, 3, H, W) float32 RGB in [-1, 1], H and W multiples of the package stride.
    ``style``: (1, N, 1, 1) float32 style weights. Returns (1, 3, H, W) float32 in [-1, 1]
    as a host NumPy array. ``run`` is safe to call from several threads at once.
    """

    name: str
    device: str
    precision: str
    # Whether stylize_frame/submit_frame smooth over time themselves (in the post kernel), and whether
    # they take device frames (sdk.frames.DeviceFrame). Only a backend with a frame pipeline does either.
    fused_temporal: bool = False
    device_frames: bool = False
    pipelined: bool = False  # submit_frame returns handles: frames overlap (Stylizer.submit, Stylizer.stream)

    @abstractmethod
    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray: ...

    def stylize_frame(self, frame, order: str, size_hw, style: np.ndarray, strength: float,
                      temporal: float = 0.0, out=None):
        """The whole frame (pre, model, post) in one call, or ``None`` where the backend has no such path
        (the Stylizer then preprocesses, calls :meth:`run` and postprocesses on the CPU)."""
        return None

    def submit_frame(self, frame, order: str, size_hw, style: np.ndarray, strength: float,
                     temporal: float = 0.0, out=None):
        """Start a frame and return a handle for :meth:`result_frame`, or ``None`` where frames are not
        pipelined (the Stylizer then stylizes at submit time)."""
        return None

    def result_frame(self, handle) -> np.ndarray:
        raise TypeError(f"the {self.name} backend returned no handle from submit_frame, so it has no result_frame")

    def reset_temporal(self) -> None:
        """Forget the previous frame that fused smoothing blends toward (a cut in the stream)."""

    def close(self) -> None:
        """Free sessions, engines and buffers; the backend is unusable afterwards."""

    def describe(self) -> str:
        return f"{self.name} on {self.device} ({self.precision})"


class FramePipelineBackend(Backend):
    """A backend whose whole frames run through a frame pipeline (``self.pipeline``; ``None`` when this
    instance has none, e.g. torch on the CPU). Calls into the pipeline run one at a time under ``_lock``.

    Subclasses set ``pipeline`` and may override :meth:`_use_model` (the model for a working size,
    e.g. a TensorRT engine built per size) and :meth:`_calling` (a context around each pipeline call)."""

    pipeline = None

    def __init__(self):
        self._lock = threading.Lock()

    @property
    def fused_temporal(self) -> bool:
        return self.pipeline is not None

    @property
    def device_frames(self) -> bool:
        return self.pipeline is not None

    @property
    def pipelined(self) -> bool:
        return self.pipeline is not None

    def _use_model(self, size_hw) -> None:
        """Point the pipeline at the model for ``size_hw`` (called under the lock before each frame)."""

    def _calling(self):
        return contextlib.nullcontext()

    def stylize_frame(self, frame, order: str, size_hw, style: np.ndarray, strength: float,
                      temporal: float = 0.0, out=None):
        if self.pipeline is None:
            return None
        with self._lock, self._calling():
            self._use_model(size_hw)
            return self.pipeline.run(frame, order, size_hw, style, strength, temporal, out)

    def submit_frame(self, frame, order: str, size_hw, style: np.ndarray, strength: float,
                     temporal: float = 0.0, out=None):
        """Start a frame on the next pipeline slot: it uploads and runs while the caller collects the previous one."""
        if self.pipeline is None:
            return None
        with self._lock, self._calling():
            self._use_model(size_hw)  # captured into the slot's graph, keyed by size
            return self.pipeline.submit(frame, order, size_hw, style, strength, temporal, out)

    def result_frame(self, handle) -> np.ndarray:
        with self._lock:
            return self.pipeline.result(handle)

    def reset_temporal(self) -> None:
        if self.pipeline is not None:
            with self._lock:
                self.pipeline.reset_temporal()

    def close(self) -> None:
        with self._lock:
            if self.pipeline is not None:
                self.pipeline.close()  # waits for pending frames (graphs hold engines' contexts), unloads the kernels
            self.pipeline = None


@dataclass(frozen=True)
class StyleRouting:
    """Which of a package's files serves a style vector, for a backend that runs ``path`` (of ``variant``).

    A package whose added styles own colour-head channels keeps each file as it was before them (manifest
    "lean"): a vector with no weight beyond those ``lean_styles`` runs that file, at the old speed and with the
    same pixels (the owned channels are exactly 0 for them). A style the variant serves below its fidelity floor
    (``styles_below_floor``: added later, distilled less well) runs the fastest FP32-precision variant that
    passes for it (at worst the FP32 file), alone or in a mix."""

    lean_styles: int = 0
    lean_path: Path | None = None
    below_floor: tuple[int, ...] = ()
    fallback_variant: str = "fp32"
    fallback_path: Path | None = None
    fallback_nchwc: bool = True

    @classmethod
    def of(cls, package, path: Path, variant: str) -> "StyleRouting":
        lean = package.manifest.get("lean") or {}
        lean_name = lean.get("files", {}).get(path.name)
        below = tuple(int(i) for i in package.variants.get(variant, {}).get("styles_below_floor", []))
        fallback = _fallback_variant(package, below) if below else "fp32"
        entry = package.variants.get(fallback, {})
        return cls(lean_styles=int(lean["styles"]) if lean_name else 0,
                   lean_path=package.path / lean_name if lean_name else None, below_floor=below,
                   fallback_variant=fallback,
                   fallback_path=package.path / entry["file"] if "file" in entry else package.file("fp32"),
                   fallback_nchwc=bool(entry.get("onnxruntime_nchwc", True)))

    def needs_fallback(self, style: np.ndarray) -> bool:
        return bool(self.below_floor) and bool(np.any(style.reshape(-1)[list(self.below_floor)]))

    def lean_style(self, style: np.ndarray) -> np.ndarray | None:
        """``style`` cut to the lean file's styles when it has no weight beyond them, else None."""
        n = self.lean_styles
        if n and not np.any(style.reshape(-1)[n:]):
            return np.ascontiguousarray(style.reshape(-1)[:n].reshape(1, n, 1, 1))
        return None


def _fallback_variant(package, styles) -> str:
    """The fastest FP32-precision variant that passes its floor and serves ``styles`` above it ("fp32" if none)."""
    candidates = [(v["cpu_ms_640x360"], name) for name, v in package.variants.items()
                  if v.get("passes_floor") and v.get("precision") == "fp32" and "cpu_ms_640x360" in v
                  and not set(styles) & set(v.get("styles_below_floor", []))]
    return min(candidates)[1] if candidates else "fp32"
