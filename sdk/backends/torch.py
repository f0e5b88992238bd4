"""PyTorch backends: the package's ONNX graph executed by torch ops (the interpreter: onnx_graph.py).

* ``torch``: CPU, FP32, eager.
* ``torch-cuda``: NVIDIA GPU. FP16 (default) or FP32, channels-last, with the fused CUDA
  pre/post kernels (kernels/, compiled by NVRTC) and a CUDA graph of the whole per-frame
  pipeline for each frame shape (see sdk/cuda/pipeline.py).
"""
from __future__ import annotations

import numpy as np

from sdk.backends.base import FramePipelineBackend, StyleRouting
from sdk.backends.onnx_graph import OnnxGraphModule
from sdk.errors import ModelLoadError

INSTALL_HINT = ("install PyTorch and onnx: `pip install 'stylizer-sdk[torch]'` or `pip install torch onnx` "
                "(the README's Install section gives the command for the small CPU-only build)")


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


class TorchBackend(FramePipelineBackend):
    def __init__(self, name: str, package, precision: str = "auto", variant: str | None = None):
        import torch

        super().__init__()

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
        style_name = package.manifest["style_input"]["name"]
        self._graph_options = {"dtype": dtype, "channels_last": cuda, "style_input": style_name}
        self._graph = OnnxGraphModule(path.read_bytes(), self._device, str(path), **self._graph_options)
        self._order = [package.manifest["input"]["name"], style_name]
        if sorted(self._order) != sorted(self._graph.inputs):
            raise ModelLoadError(f"{path}: graph inputs {self._graph.inputs}, manifest names {self._order}")
        self._bound, self._bound_style = None, None  # run()'s style values, for the last style it saw
        # Lean and fallback files serve a style as on ONNX Runtime (base.StyleRouting); the torch-cuda pipeline
        # asks route() when a slot's style changes and captures a graph per frame shape and file.
        self._routing = StyleRouting.of(package, path, variant if variant is not None else "fp32")
        self.fallback_variant = self._routing.fallback_variant
        self._graphs: dict = {}  # lean and fallback graphs, built when a style first needs them
        self.pipeline = None
        if cuda:
            # Fixed frame shapes per stream: let cuDNN time its algorithms once per shape.
            torch.backends.cudnn.benchmark = True
            from sdk.cuda.pipeline import TorchCudaPipeline
            from sdk.cuda.kernels import StylizeKernels

            self.pipeline = TorchCudaPipeline(self._graph, StylizeKernels(torch.cuda.current_device()),
                                              half=precision == "fp16", route=self.route)

    def route(self, style: np.ndarray) -> tuple[OnnxGraphModule, np.ndarray]:
        """The graph that serves ``style`` (1, N, 1, 1) and the style values it takes (base.StyleRouting); run()
        and the frame pipeline ask it when the style changes."""
        routing = self._routing
        if routing.needs_fallback(style):
            which, path, values = "fallback", routing.fallback_path, style
        elif (lean_style := routing.lean_style(style)) is not None:
            which, path, values = "lean", routing.lean_path, lean_style
        else:
            return self._graph, style
        if which not in self._graphs:
            self._graphs[which] = OnnxGraphModule(path.read_bytes(), self._device, str(path), **self._graph_options)
        return self._graphs[which], values

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        torch = self._torch
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        key = np.ascontiguousarray(style, dtype=np.float32).tobytes()
        with torch.inference_mode():
            image_t = torch.from_numpy(np.ascontiguousarray(image)).to(self._device, dtype)
            with self._lock:
                if self._bound_style != key:  # the style's copy and program run when it changes, not every frame
                    graph, values = self.route(style)
                    style_t = torch.from_numpy(np.ascontiguousarray(values)).to(self._device, dtype)
                    self._bound, self._bound_style = (graph, graph.bind(style_t)), key
                graph, bound = self._bound
                if self._device.type == "cuda":  # one pipeline: GPU calls run one at a time
                    return graph.run_bound(image_t, bound)[0].float().cpu().numpy()
            return graph.run_bound(image_t, bound)[0].numpy()

    def _calling(self):
        return self._torch.inference_mode()

    def close(self) -> None:
        super().close()
        self._graph = None
        self._graphs = {}
        self._bound = None


def create(name: str, package, precision: str, variant: str | None = None) -> TorchBackend:
    return TorchBackend(name, package, precision, variant)
