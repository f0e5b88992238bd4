"""PyTorch backend: the package's ONNX graph executed by torch ops.

The deploy graph is restricted to a handful of ops (Conv, Relu, Add, Mul, Resize,
Clip; see trainer/models/generator.py), so the backend interprets the ONNX directly
with the checksummed weights from the package: no pickled module, no second copy of
the network definition, and the same file feeds every backend. Runs on the CPU
("torch") and on CUDA ("torch-cuda", FP32 here).
"""
from __future__ import annotations

import threading

import numpy as np

from sdk.backends.base import Backend
from sdk.errors import ModelLoadError

INSTALL_HINT = "install PyTorch and onnx with `pip install '.[torch]'` (or `pip install torch onnx`)"


def probe(name: str) -> tuple[bool, str]:
    try:
        import torch
    except ImportError as exc:
        return False, f"torch is not importable ({exc}); {INSTALL_HINT}"
    try:
        import onnx  # noqa: F401  (parses the package's graph)
    except ImportError as exc:
        return False, f"onnx is not importable ({exc}); {INSTALL_HINT}"
    if name == "torch-cuda":
        if not torch.cuda.is_available():
            return False, f"torch {torch.__version__} sees no CUDA GPU"
        return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"
    return True, f"torch {torch.__version__} on CPU"


class OnnxGraphModule:
    """Executes an ONNX graph of the supported op set with torch functional ops."""

    SUPPORTED = ("Conv", "Relu", "Add", "Mul", "Resize", "Clip", "Constant", "Identity", "Tanh", "Sigmoid")

    def __init__(self, model_bytes: bytes, device, where: str):
        import onnx
        from onnx import numpy_helper
        import torch

        try:
            model = onnx.load_model_from_string(model_bytes)
        except Exception as exc:
            raise ModelLoadError(f"{where}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - set(self.SUPPORTED))
        if unsupported:
            raise ModelLoadError(f"{where}: ops {unsupported} are outside the deploy op set {self.SUPPORTED}; "
                                 "export with this project's trainer.")
        self.values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()).to(device)
                       for t in graph.initializer}
        self.inputs = [i.name for i in graph.input if i.name not in self.values]
        self.outputs = [o.name for o in graph.output]
        self.nodes = []
        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Constant":
                self.values[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy()).to(device)
                continue
            self.nodes.append((node.op_type, list(node.input), list(node.output), attrs))

    def __call__(self, *args):
        import torch
        import torch.nn.functional as F

        env = dict(self.values)
        env.update(zip(self.inputs, args))
        for op, ins, outs, attrs in self.nodes:
            x = [env[i] if i else None for i in ins]
            if op == "Conv":
                pads = attrs.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ModelLoadError(f"asymmetric Conv pads {pads} are not supported")
                y = F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, stride=attrs.get("strides", 1),
                             padding=(pads[0], pads[1]), dilation=attrs.get("dilations", 1),
                             groups=attrs.get("group", 1))
            elif op == "Relu":
                y = F.relu(x[0])
            elif op == "Add":
                y = x[0] + x[1]
            elif op == "Mul":
                y = x[0] * x[1]
            elif op == "Clip":
                lo = x[1] if len(x) > 1 and x[1] is not None else attrs.get("min")
                hi = x[2] if len(x) > 2 and x[2] is not None else attrs.get("max")
                y = torch.clamp(x[0], float(lo) if lo is not None else None, float(hi) if hi is not None else None)
            elif op == "Resize":
                if attrs.get("mode", b"nearest") not in (b"nearest", "nearest"):
                    raise ModelLoadError(f"Resize mode {attrs.get('mode')!r} is not supported")
                scales = x[2] if len(x) > 2 and x[2] is not None and x[2].numel() else None
                if scales is not None:
                    y = F.interpolate(x[0], scale_factor=tuple(float(s) for s in scales[2:]), mode="nearest")
                else:
                    y = F.interpolate(x[0], size=tuple(int(s) for s in x[3][2:]), mode="nearest")
            elif op == "Identity":
                y = x[0]
            elif op == "Tanh":
                y = torch.tanh(x[0])
            elif op == "Sigmoid":
                y = torch.sigmoid(x[0])
            else:  # guarded by SUPPORTED in __init__
                raise AssertionError(op)
            env[outs[0]] = y
        return [env[o] for o in self.outputs]


class TorchBackend(Backend):
    def __init__(self, name: str, package, precision: str = "fp32"):
        import torch

        if precision != "fp32":
            raise ModelLoadError(f"the {name} backend runs fp32 here, got precision={precision!r}")
        self.name, self.precision = name, precision
        self._torch = torch
        self._device = torch.device("cuda" if name == "torch-cuda" else "cpu")
        self.device = str(self._device) if name != "torch-cuda" else f"cuda ({torch.cuda.get_device_name(0)})"
        path = package.file(precision)
        self._graph = OnnxGraphModule(path.read_bytes(), self._device, str(path))
        self._order = [package.manifest["input"]["name"], package.manifest["style_input"]["name"]]
        if sorted(self._order) != sorted(self._graph.inputs):
            raise ModelLoadError(f"{path}: graph inputs {self._graph.inputs}, manifest names {self._order}")
        self._lock = threading.Lock()  # CUDA: one stream; keeps calls ordered from several threads

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        torch = self._torch
        feeds = {self._order[0]: image, self._order[1]: style}
        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n])).to(self._device) for n in self._graph.inputs]
            if self._device.type == "cuda":
                with self._lock:
                    return self._graph(*args)[0].cpu().numpy()
            return self._graph(*args)[0].numpy()

    def close(self) -> None:
        self._graph = None


def create(name: str, package, precision: str) -> TorchBackend:
    return TorchBackend(name, package, precision)
