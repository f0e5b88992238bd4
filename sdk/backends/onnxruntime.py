"""ONNX Runtime backend (CPU): the default wherever there is no GPU."""
from __future__ import annotations

import ctypes
import os
import sys
import threading

import numpy as np

from sdk.backends.base import Backend, StyleRouting
from sdk.errors import ModelLoadError
from sdk.onnx_edit import input_to_constant

INSTALL_HINT = "install it with `pip install onnxruntime` (it is a default dependency of this package)"


def probe(_name: str) -> tuple[bool, str]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return False, f"onnxruntime is not importable ({exc}); {INSTALL_HINT}"
    if "CPUExecutionProvider" not in ort.get_available_providers():
        return False, f"onnxruntime {ort.__version__} has no CPUExecutionProvider"
    return True, f"onnxruntime {ort.__version__}, CPUExecutionProvider"


_arena_lock = threading.Lock()
_arena_registered = False


def _share_cpu_arena(ort) -> None:
    """Register one CPU arena in ONNX Runtime's environment, once per process.

    Only sessions that opt in (session.use_env_allocators) draw from it, not the host app's own;
    a session that opts in where none could be registered makes its own arena as usual.
    """
    global _arena_registered
    with _arena_lock:
        if not _arena_registered:
            _arena_registered = True
            try:
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
                ort.create_and_register_allocator(info, None)
            except Exception:  # the host app registered one already (then we share it), or an old onnxruntime
                pass


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_malloc_tuned = False


def _keep_frame_buffers_on_the_heap() -> None:
    """Serve frame-sized buffers (a 640x360 float blob is 2.7 MB) from the heap, not fresh mmaps.

    glibc maps each allocation above its mmap threshold anew and returns it on free, so every frame
    paid about 700 page faults per buffer: 2 ms of a 6 ms pruned50 frame at 640x360 went to
    cv2.dnn.blobFromImage alone on this project's CPU. Raising the thresholds lets freed frame
    buffers be reused. It is process-wide (glibc only) and what the host app would tune anyway;
    set STYLIZER_KEEP_MALLOC=1 to leave malloc as it is.
    """
    global _malloc_tuned
    if _malloc_tuned or os.environ.get("STYLIZER_KEEP_MALLOC") == "1" or not sys.platform.startswith("linux"):
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass


def layout_options(nchwc: bool) -> dict:
    """InferenceSession keyword arguments for ONNX Runtime's blocked conv layout (NCHWc) on or off.
    Which is faster depends on the model's channel counts and the CPU's vector width, so the
    compress step measures both and records it per variant (``onnxruntime_nchwc``)."""
    return {} if nchwc else {"disabled_optimizers": ["NchwcTransformer"]}


class OnnxRuntimeBackend(Backend):
    """One generic session (style vector as an input) plus sessions specialized per style vector.

    A specialized session has the style vector as a constant, so ONNX Runtime folds the style
    path and fuses every per-style scale and shift into its convolution (see sdk/onnx_edit.py).
    The first ``max_specialized`` distinct style vectors get one each, built on first use (about
    10-30 ms); later vectors (e.g. a mix animated every frame) run on the generic session rather
    than rebuilding. Which session serves a vector never changes afterwards, so a vector's output
    does not depend on timing or threads; generic and specialized agree within float rounding.
    """

    def __init__(self, package, precision: str = "auto", threads: int | None = None,
                 max_specialized: int = 8, variant: str | None = None):
        import onnxruntime as ort

        # "auto": the fastest recorded variant that passes its fidelity floor (see ModelPackage.choose_variant).
        self.variant, precision, self._path = package.choose_variant(precision, variant)
        self.name, self.device, self.precision = "onnxruntime", "cpu", precision
        self._options = ort.SessionOptions()
        self._options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Errors only: specializing an FP16 graph makes ONNX Runtime warn once per conv it cannot fold.
        self._options.log_severity_level = 3
        # Every session (generic and specialized) draws from one arena instead of one each:
        # 6 sessions at 1280x720 hold 446 MB instead of 1,347 MB, at the same speed.
        _share_cpu_arena(ort)
        _keep_frame_buffers_on_the_heap()
        self._options.add_session_config_entry("session.use_env_allocators", "1")
        if threads:
            self._options.intra_op_num_threads = threads
        # The package loader verified the checksum; the bytes are kept to specialize from.
        self._model = self._path.read_bytes()
        # The layout the compress step measured faster for this variant (ONNX Runtime's default where unrecorded).
        self.nchwc = bool(package.variants.get(self.variant, {}).get("onnxruntime_nchwc", True))
        self._session = self._load(self._model)
        self._image_name = package.manifest["input"]["name"]
        self._style_name = package.manifest["style_input"]["name"]
        self._output_name = package.manifest["output"]["name"]
        # An FP16 file takes FP16 inputs: feeds are cast to what the graph declares.
        self._input_dtype = np.float16 if self._session.get_inputs()[0].type == "tensor(float16)" else np.float32
        self.max_specialized = max_specialized
        self._specialized: dict[bytes, object] = {}
        self._lock = threading.Lock()
        self._routing = StyleRouting.of(package, self._path, self.variant)  # lean and fallback files
        self.fallback_variant = self._routing.fallback_variant
        self._fallback_generic = None
        self._lean_generic = None
        self._file_bytes: dict = {}  # lean and fallback files, read once (the loader verified their checksums)

    def _read(self, path) -> bytes:
        if path not in self._file_bytes:
            self._file_bytes[path] = path.read_bytes()
        return self._file_bytes[path]

    def _load(self, model: bytes, nchwc: bool | None = None):
        import onnxruntime as ort
        try:
            return ort.InferenceSession(model, self._options, providers=["CPUExecutionProvider"],
                                        **layout_options(self.nchwc if nchwc is None else nchwc))
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelLoadError(f"{self._path}: onnxruntime could not load it ({type(exc).__name__}: {exc}). "
                                 "Re-export the package.") from None

    def _session_for(self, style: np.ndarray):
        key = style.astype(np.float32).tobytes()
        session = self._specialized.get(key)
        if session is not None or self.max_specialized <= 0:
            return session
        with self._lock:  # build each specialized session once, even when threads race for it
            session = self._specialized.get(key)
            if session is None and len(self._specialized) < self.max_specialized:
                nchwc = self._routing.fallback_nchwc if self._routing.needs_fallback(style) else None
                session = self._specialized[key] = self._load(self._specialized_model(style), nchwc)
        return session

    def _specialized_model(self, style: np.ndarray) -> bytes:
        routing = self._routing
        if routing.needs_fallback(style):
            return input_to_constant(self._read(routing.fallback_path), self._style_name, style,
                                     where=str(routing.fallback_path))
        lean_style = routing.lean_style(style)
        if lean_style is not None:
            return input_to_constant(self._read(routing.lean_path), self._style_name, lean_style,
                                     where=str(routing.lean_path))
        return input_to_constant(self._model, self._style_name, style, where=str(self._path))

    def _generic_session(self, fallback: bool, lean: bool = False):
        if not fallback and not lean:
            return self._session
        with self._lock:
            if fallback and self._fallback_generic is None:
                self._fallback_generic = self._load(self._read(self._routing.fallback_path),
                                                    self._routing.fallback_nchwc)
            if lean and not fallback and self._lean_generic is None:
                self._lean_generic = self._load(self._read(self._routing.lean_path))
        return self._fallback_generic if fallback else self._lean_generic

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        # InferenceSession.run is thread-safe: every session is shared by all threads.
        fallback = self._routing.needs_fallback(style)
        dtype = np.float32 if fallback else self._input_dtype  # the fallback is an FP32-precision file
        image, style = image.astype(dtype, copy=False), style.astype(dtype, copy=False)
        session = self._session_for(style)
        if session is not None:
            out = session.run([self._output_name], {self._image_name: image})[0]
        else:
            # Past the specialized sessions (a mix that changes every frame): still the lean file for old styles.
            lean_style = None if fallback else self._routing.lean_style(style)
            feed_style = style if lean_style is None else lean_style
            out = self._generic_session(fallback, lean_style is not None).run(
                [self._output_name], {self._image_name: image, self._style_name: feed_style})[0]
        return out.astype(np.float32, copy=False)

    def describe(self) -> str:
        shown = self.precision if self.variant == self.precision else f"{self.variant}, {self.precision}"
        return f"{self.name} on {self.device} ({shown})"

    def close(self) -> None:
        self._session = None
        self._fallback_generic = None
        self._lean_generic = None
        self._specialized = {}


def create(_name: str, package, precision: str, variant: str | None = None) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(package, precision, variant=variant)
