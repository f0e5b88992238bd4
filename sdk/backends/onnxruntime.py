"""ONNX Runtime backend (CPU): the default wherever there is no GPU."""
from __future__ import annotations

import numpy as np

from sdk.backends.base import Backend
from sdk.errors import ModelLoadError

INSTALL_HINT = "install it with `pip install onnxruntime` (it is a default dependency of this package)"


def probe(_name: str) -> tuple[bool, str]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return False, f"onnxruntime is not importable ({exc}); {INSTALL_HINT}"
    if "CPUExecutionProvider" not in ort.get_available_providers():
        return False, f"onnxruntime {ort.__version__} has no CPUExecutionProvider"
    return True, f"onnxruntime {ort.__version__}, CPUExecutionProvider"


class OnnxRuntimeBackend(Backend):
    def __init__(self, package, precision: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        precision = "fp32" if precision == "auto" else precision
        self.name, self.device, self.precision = "onnxruntime", "cpu", precision
        path = package.file(precision)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        try:
            # The package loader verified the checksum; bytes avoid a second path lookup.
            self._session = ort.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelLoadError(f"{path}: onnxruntime could not load it ({type(exc).__name__}: {exc}). "
                                 "Re-export the package.") from None
        self._image_name = package.manifest["input"]["name"]
        self._style_name = package.manifest["style_input"]["name"]
        self._output_name = package.manifest["output"]["name"]

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        # InferenceSession.run is thread-safe: one shared session serves every thread.
        return self._session.run([self._output_name], {self._image_name: image, self._style_name: style})[0]

    def close(self) -> None:
        self._session = None


def create(_name: str, package, precision: str) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(package, precision)
