"""PyTorch backends: the package's ONNX graph executed by torch ops.

The deploy graph is restricted to a handful of ops (Conv, Relu, Add, Mul, Resize, Clip;
see trainer/models/generator.py), so the backend interprets the ONNX directly with the
checksummed weights from the package: no pickled module, no second copy of the network
definition, and the same file feeds every backend.

* ``torch``: CPU, FP32, eager.
* ``torch-cuda``: NVIDIA GPU. FP16 (default) or FP32, channels-last, with the fused CUDA
  pre/post kernels (kernels/, compiled by NVRTC) and a CUDA graph of the whole per-frame
  pipeline for each frame shape (see torch_cuda_pipeline.py).
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
        try:
            import cuda.bindings.driver  # noqa: F401
            import cuda.bindings.nvrtc  # noqa: F401
        except ImportError as exc:
            return False, (f"cuda-python is not importable ({exc}); install it with "
                           "`pip install cuda-bindings nvidia-cuda-nvrtc nvidia-cuda-runtime` (the `cuda` extra)")
        return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"
    return True, f"torch {torch.__version__} on CPU"


class OnnxGraphModule:
    """Executes an ONNX graph of the supported op set with torch functional ops.

    Every node's static arguments (pads, strides, resize scales, clip bounds) are read from
    the graph once, here, so a forward pass never reads a device value back to the host
    (which would break CUDA graph capture and stall the stream).
    """

    SUPPORTED = ("Conv", "Relu", "Add", "Mul", "Resize", "Clip", "Constant", "Identity", "Tanh", "Sigmoid")

    def __init__(self, model_bytes: bytes, device, where: str, dtype=None, channels_last: bool = False):
        import onnx
        import torch
        from onnx import numpy_helper

        try:
            model = onnx.load_model_from_string(model_bytes)
        except Exception as exc:  # protobuf raises DecodeError and others on a damaged file
            raise ModelLoadError(f"{where}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - set(self.SUPPORTED))
        if unsupported:
            raise ModelLoadError(f"{where}: ops {unsupported} are outside the deploy op set {self.SUPPORTED}; "
                                 "export with this project's trainer.")
        arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                value = next(a for a in node.attribute if a.name == "value")
                arrays[node.output[0]] = numpy_helper.to_array(value.t)
        self.inputs = [i.name for i in graph.input if i.name not in arrays]
        self.outputs = [o.name for o in graph.output]
        self.nodes = []
        used_as_weight = set()
        for node in graph.node:
            if node.op_type == "Constant":
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            static: dict = {}
            if node.op_type == "Conv":
                pads = list(attrs.get("pads", [0, 0, 0, 0]))
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ModelLoadError(f"{where}: asymmetric Conv pads {pads} are not supported")
                static = {"stride": tuple(attrs.get("strides", (1, 1))), "padding": (pads[0], pads[1]),
                          "dilation": tuple(attrs.get("dilations", (1, 1))), "groups": attrs.get("group", 1)}
                used_as_weight.add(node.input[1])
            elif node.op_type == "Clip":
                lo = node.input[1] if len(node.input) > 1 and node.input[1] else None
                hi = node.input[2] if len(node.input) > 2 and node.input[2] else None
                static = {"min": float(arrays[lo]) if lo else attrs.get("min"),
                          "max": float(arrays[hi]) if hi else attrs.get("max")}
            elif node.op_type == "Resize":
                mode = attrs.get("mode", b"nearest")
                if mode not in (b"nearest", "nearest"):
                    raise ModelLoadError(f"{where}: Resize mode {mode!r} is not supported")
                scales = node.input[2] if len(node.input) > 2 and node.input[2] else None
                if scales is None or arrays[scales].size == 0:
                    raise ModelLoadError(f"{where}: Resize without constant scales is not supported")
                static = {"scale_factor": tuple(float(v) for v in arrays[scales][2:])}
            self.nodes.append((node.op_type, list(node.input[:1] if node.op_type in ("Resize", "Clip") else node.input),
                               node.output[0], static))
        self.values = {}
        for name, array in arrays.items():
            tensor = torch.from_numpy(np.array(array, copy=True)).to(device)
            if dtype is not None and tensor.is_floating_point():
                tensor = tensor.to(dtype)
            if channels_last and name in used_as_weight and tensor.dim() == 4:
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            self.values[name] = tensor

    def __call__(self, *args):
        import torch
        import torch.nn.functional as F

        env = dict(self.values)
        env.update(zip(self.inputs, args))
        for op, ins, out, static in self.nodes:
            x = [env[i] if i else None for i in ins]
            if op == "Conv":
                y = F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, **static)
            elif op == "Relu":
                y = F.relu(x[0])
            elif op == "Add":
                y = x[0] + x[1]
            elif op == "Mul":
                y = x[0] * x[1]
            elif op == "Clip":
                y = torch.clamp(x[0], static["min"], static["max"])
            elif op == "Resize":
                y = F.interpolate(x[0], scale_factor=static["scale_factor"], mode="nearest")
            elif op == "Identity":
                y = x[0]
            elif op == "Tanh":
                y = torch.tanh(x[0])
            elif op == "Sigmoid":
                y = torch.sigmoid(x[0])
            else:  # guarded by SUPPORTED in __init__
                raise AssertionError(op)
            env[out] = y
        return [env[o] for o in self.outputs]


class TorchBackend(Backend):
    def __init__(self, name: str, package, precision: str = "auto", variant: str | None = None):
        import torch

        cuda = name == "torch-cuda"
        if precision == "auto":
            precision = "fp16" if cuda else "fp32"
        if precision not in (("fp16", "fp32") if cuda else ("fp32",)):
            raise ModelLoadError(f"the {name} backend runs {'fp16 or fp32' if cuda else 'fp32'}, "
                                 f"got precision={precision!r}")
        self.name, self.precision = name, precision
        self._torch = torch
        self._device = torch.device("cuda" if cuda else "cpu")
        self.device = f"cuda ({torch.cuda.get_device_name(0)})" if cuda else "cpu"
        # The graph is interpreted in FP32 (and cast to FP16 on the GPU): FP32 files only, pruned ones included.
        path = package.file("fp32")
        if variant is not None:
            self.variant, file_precision, path = package.choose_variant("auto", variant)
            if file_precision != "fp32":
                raise ModelLoadError(f"the {name} backend runs FP32 graphs (cast to FP16 on the GPU); variant "
                                     f"{variant!r} is {file_precision}. Pick an FP32 variant or another backend.")
        dtype = torch.float16 if precision == "fp16" else None
        self._graph = OnnxGraphModule(path.read_bytes(), self._device, str(path), dtype=dtype, channels_last=cuda)
        self._order = [package.manifest["input"]["name"], package.manifest["style_input"]["name"]]
        if sorted(self._order) != sorted(self._graph.inputs):
            raise ModelLoadError(f"{path}: graph inputs {self._graph.inputs}, manifest names {self._order}")
        self._lock = threading.Lock()  # one pipeline (streams, graphs, buffers): calls run one at a time
        self.pipeline = None
        if cuda:
            # Fixed frame shapes per stream: let cuDNN time its algorithms once per shape.
            torch.backends.cudnn.benchmark = True
            from sdk.backends.torch_cuda_pipeline import TorchCudaPipeline
            from sdk.cuda.kernels import StylizeKernels

            self.pipeline = TorchCudaPipeline(self._graph, StylizeKernels(torch.cuda.current_device()),
                                              half=precision == "fp16")

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        torch = self._torch
        feeds = {self._order[0]: image, self._order[1]: style}
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n])).to(self._device, dtype) for n in self._graph.inputs]
            if self._device.type == "cuda":
                with self._lock:
                    return self._graph(*args)[0].float().cpu().numpy()
            return self._graph(*args)[0].numpy()

    @property
    def fused_temporal(self) -> bool:
        """Whether stylize_frame/submit_frame smooth over time themselves (in the post kernel)."""
        return self.pipeline is not None

    @property
    def device_frames(self) -> bool:
        """Whether stylize_frame/submit_frame take device frames (sdk.frames.DeviceFrame)."""
        return self.pipeline is not None

    def stylize_frame(self, frame, order: str, size_hw, style: np.ndarray, strength: float,
                      temporal: float = 0.0, out=None):
        """The whole frame on the GPU (fused kernels + graph); ``None`` where this backend has no such path."""
        if self.pipeline is None:
            return None
        with self._lock, self._torch.inference_mode():
            return self.pipeline.run(frame, order, size_hw, style, strength, temporal, out)

    def submit_frame(self, frame, order: str, size_hw, style: np.ndarray, strength: float,
                     temporal: float = 0.0, out=None):
        """Start a frame on the next pipeline slot (returns a handle), or ``None`` without a GPU pipeline."""
        if self.pipeline is None:
            return None
        with self._lock, self._torch.inference_mode():
            return self.pipeline.submit(frame, order, size_hw, style, strength, temporal, out)

    def result_frame(self, handle) -> np.ndarray:
        with self._lock:
            return self.pipeline.result(handle)

    def reset_temporal(self) -> None:
        if self.pipeline is not None:
            with self._lock:
                self.pipeline.reset_temporal()

    def close(self) -> None:
        if self.pipeline is not None:
            with self._lock:
                self.pipeline.close()  # waits for pending frames, then unloads the kernels
        self._graph = None
        self.pipeline = None


def create(name: str, package, precision: str, variant: str | None = None) -> TorchBackend:
    return TorchBackend(name, package, precision, variant)
