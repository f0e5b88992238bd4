"""ONNX Runtime backend (CPU): the default wherever there is no GPU."""
from __future__ import annotations

import threading

import numpy as np

from sdk.backends.base import Backend
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
                 max_specialized: int = 8):
        import onnxruntime as ort

        precision = "fp32" if precision == "auto" else precision
        self.name, self.device, self.precision = "onnxruntime", "cpu", precision
        self._path = package.file(precision)
        self._options = ort.SessionOptions()
        self._options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Every session (generic and specialized) draws from one arena instead of one each:
        # 6 sessions at 1280x720 hold 446 MB instead of 1,347 MB, at the same speed.
        _share_cpu_arena(ort)
        self._options.add_session_config_entry("session.use_env_allocators", "1")
        if threads:
            self._options.intra_op_num_threads = threads
        # The package loader verified the checksum; the bytes are kept to specialize from.
        self._model = self._path.read_bytes()
        self._session = self._load(self._model)
        self._image_name = package.manifest["input"]["name"]
        self._style_name = package.manifest["style_input"]["name"]
        self._output_name = package.manifest["output"]["name"]
        self.max_specialized = max_specialized
        self._specialized: dict[bytes, object] = {}
        self._lock = threading.Lock()

    def _load(self, model: bytes):
        import onnxruntime as ort
        try:
            return ort.InferenceSession(model, self._options, providers=["CPUExecutionProvider"])
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
                model = input_to_constant(self._model, self._style_name, style, where=str(self._path))
                session = self._specialized[key] = self._load(model)
        return session

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        # InferenceSession.run is thread-safe: every session is shared by all threads.
        session = self._session_for(style)
        if session is not None:
            return session.run([self._output_name], {self._image_name: image})[0]
        return self._session.run([self._output_name], {self._image_name: image, self._style_name: style})[0]

    def close(self) -> None:
        self._session = None
        self._specialized = {}


def create(_name: str, package, precision: str) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(package, precision)
