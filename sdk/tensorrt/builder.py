"""Build TensorRT engines from a package's ONNX, and cache them on disk by a full key.

Only what ``tensorrt`` (10.3+, 11.x) and ``tensorrt_rtx`` share is used: a strongly typed
network (the precision lives in the ONNX; no FP16/INT8 builder flags, no calibrators),
named tensors, one optimization profile per working resolution. Every parser error is
collected into :class:`EngineBuildError`; a failed build never returns ``None``.

Cache key: ONNX sha256, TensorRT flavour and exact version, GPU name and compute
capability, precision and the profiles. A cached engine is used only when its metadata
matches the key and its own sha256 matches; otherwise it is rebuilt, never crashed on.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sdk.cache import cache_root, write_atomic
from sdk.errors import BackendUnavailableError, EngineBuildError

INSTALL_HINT = ("install TensorRT (`pip install tensorrt`, or JetPack's python3-libnvinfer on a Jetson) or "
                "TensorRT for RTX (`pip install tensorrt-rtx-cu13`)")


def import_tensorrt(prefer: str | None = None):
    """(flavour, module) of the first usable TensorRT: checked by attributes, not by import success
    (a stub or a half-installed wheel imports but has no Runtime)."""
    errors = []
    for name in ([prefer] if prefer else ["tensorrt", "tensorrt_rtx"]):
        try:
            module = __import__(name)
        except Exception as exc:  # a broken install raises OSError/ImportError from its native libraries
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if hasattr(module, "Runtime") and hasattr(module, "Builder") and hasattr(module, "__version__"):
            return name, module
        errors.append(f"{name}: imported but has no Runtime/Builder/__version__ (an incomplete install)")
    raise BackendUnavailableError("no usable TensorRT: " + "; ".join(errors) + f". To fix: {INSTALL_HINT}.")


@dataclass(frozen=True)
class EngineKey:
    onnx_sha256: str
    flavour: str
    trt_version: str
    gpu: str
    compute_capability: str
    precision: str
    profiles: tuple  # ((h, w), ...) working resolutions

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]


class _Progress:
    """Prints build phases for long builds (TensorRT's IProgressMonitor), at most one line a second."""

    def __init__(self, trt, stream=sys.stderr):
        base = trt.IProgressMonitor

        class Monitor(base):
            def __init__(self):
                base.__init__(self)
                self.last = 0.0

            def phase_start(self, phase_name, parent_phase, num_steps):
                self._say(f"engine build: {phase_name} ({num_steps} steps)")

            def step_complete(self, phase_name, step):
                self._say(f"engine build: {phase_name} step {step + 1}")
                return True  # False would cancel the build

            def phase_finish(self, phase_name):
                pass

            def _say(self, text):
                now = time.monotonic()
                if now - self.last >= 1.0:
                    self.last = now
                    stream.write(text + "\n")
                    stream.flush()

        self.monitor = Monitor()


def build_engine(onnx_bytes: bytes, input_name: str, num_styles: int, profiles: list[tuple[int, int]],
                 flavour: str | None = None, compute_capability: str | None = None, progress: bool = False) -> bytes:
    """Serialized engine with one optimization profile per (h, w) working resolution.

    ``compute_capability`` (e.g. "SM86") targets another GPU ahead of time; TensorRT for RTX
    can build that way on a machine without a GPU.
    """
    flavour, trt = import_tensorrt(flavour)
    logger = _CollectingLogger(trt)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"{flavour} {trt.__version__} could not parse the ONNX ({len(errors)} errors):\n"
                               + "\n".join(errors))
    config = builder.create_builder_config()
    if compute_capability:
        if not hasattr(config, "set_compute_capability"):
            raise EngineBuildError(f"{flavour} {trt.__version__} cannot target {compute_capability} ahead of time; "
                                   "build on the target GPU instead")
        config.num_compute_capabilities = 1
        config.set_compute_capability(getattr(trt.ComputeCapability, compute_capability), 0)
    if progress and hasattr(trt, "IProgressMonitor"):
        config.progress_monitor = _Progress(trt).monitor
    for h, w in profiles:
        profile = builder.create_optimization_profile()
        profile.set_shape(input_name, (1, 3, h, w), (1, 3, h, w), (1, 3, h, w))
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None or serialized.nbytes == 0:
        raise EngineBuildError(f"{flavour} {trt.__version__} failed to build the engine for profiles {profiles}:\n"
                               + "\n".join(logger.messages[-20:]))
    return bytes(memoryview(serialized))


def _CollectingLogger(trt):
    class Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: list[str] = []

        def log(self, severity, msg):
            if severity <= trt.ILogger.Severity.WARNING:
                self.messages.append(f"[{severity.name}] {msg}")

    return Logger()


def cache_dir() -> Path:
    return cache_root() / "engines"


def load_cached(key: EngineKey) -> bytes | None:
    """The cached engine for ``key``, or None when absent, stale or corrupt (then it is rebuilt)."""
    base = cache_dir() / key.digest()
    try:
        meta = json.loads(base.with_suffix(".json").read_text())
        engine = base.with_suffix(".engine").read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("key") != json.loads(json.dumps(asdict(key))) or meta.get("engine_sha256") != hashlib.sha256(engine).hexdigest():
        return None
    return engine


def store(key: EngineKey, engine: bytes) -> Path:
    base = cache_dir() / key.digest()
    write_atomic(base.with_suffix(".engine"), engine)
    write_atomic(base.with_suffix(".json"), json.dumps(
        {"key": asdict(key), "engine_sha256": hashlib.sha256(engine).hexdigest()}, indent=2).encode())
    return base.with_suffix(".engine")
