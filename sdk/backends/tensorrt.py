"""TensorRT backend: an engine built from the package's ONNX (strongly typed: the precision is
the ONNX's), cached on disk, run with ``set_input_shape`` / ``set_tensor_address`` /
``execute_async_v3`` inside the same fused-kernel, CUDA-graph pipeline as torch-cuda.

One engine per frame size and file is shared; each thread gets its own execution context. Device buffers are
torch CUDA tensors (torch is this backend's allocator and stream provider). A package whose added styles own
colour-head channels keeps each file as it was before them (manifest "lean", base.StyleRouting): the old styles
and their mixes run an engine built from that file, at the old speed, and only a vector that weighs an added
style runs the widened one.
"""
from __future__ import annotations

import threading

import numpy as np

from sdk.backends.base import FramePipelineBackend, StyleRouting
from sdk.errors import BackendUnavailableError, ModelLoadError

# TensorRT for RTX targets desktop RTX GPUs only (no Jetson sm_87, no Hopper sm_90).
RTX_CAPABILITIES = {(7, 5), (8, 0), (8, 6), (8, 9), (12, 0), (12, 1)}


def probe(_name: str) -> tuple[bool, str]:
    from sdk.tensorrt.builder import import_tensorrt

    try:
        flavour, trt = import_tensorrt()
    except BackendUnavailableError as exc:
        return False, str(exc)
    try:
        import torch
    except ImportError:
        return False, f"{flavour} {trt.__version__} found, but this backend allocates with torch: `pip install torch`"
    if not torch.cuda.is_available():
        return False, f"{flavour} {trt.__version__} found, but there is no CUDA GPU"
    cc = torch.cuda.get_device_capability(0)
    if flavour == "tensorrt_rtx" and cc not in RTX_CAPABILITIES:
        return False, (f"TensorRT for RTX {trt.__version__} cannot run on {torch.cuda.get_device_name(0)} "
                       f"(sm_{cc[0]}{cc[1]}); install full TensorRT (`pip install tensorrt`)")
    return True, f"{flavour} {trt.__version__} on {torch.cuda.get_device_name(0)}"


class TrtEngineRunner:
    """Callable like OnnxGraphModule: ``runner(image, style) -> [stylized]`` on torch CUDA tensors."""

    def __init__(self, engine_bytes: bytes, trt, input_name: str, style_name: str, output_name: str, dtype):
        import torch

        self.torch, self.trt = torch, trt
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise ModelLoadError("TensorRT could not deserialize the engine (version mismatch or corrupt); "
                                 "delete the engine cache entry to rebuild it")
        self.names = (input_name, style_name, output_name)
        self.dtype = dtype
        self._local = threading.local()

    def _context(self):
        ctx = getattr(self._local, "context", None)
        if ctx is None:
            ctx = self._local.context = self.engine.create_execution_context()
        return ctx

    def __call__(self, image, style):
        torch = self.torch
        ctx = self._context()
        input_name, style_name, output_name = self.names
        image = image.contiguous()
        ctx.set_input_shape(input_name, tuple(image.shape))
        ctx.set_input_shape(style_name, tuple(style.shape))
        out = torch.empty(tuple(image.shape), dtype=image.dtype, device=image.device)
        for name, tensor in ((input_name, image), (style_name, style.contiguous()), (output_name, out)):
            if not ctx.set_tensor_address(name, tensor.data_ptr()):
                raise RuntimeError(f"TensorRT refused the address of {name!r}")
        # Keep every bound tensor referenced until the stream is synchronized (the caller's slot holds `out`).
        self._local.bound = (image, style, out)
        if not ctx.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        return [out]


class TensorRTBackend(FramePipelineBackend):
    def __init__(self, package, precision: str = "auto", progress: bool = True):
        import torch

        super().__init__()

        from sdk.cuda.pipeline import TorchCudaPipeline
        from sdk.cuda.kernels import StylizeKernels
        from sdk.tensorrt import builder

        flavour, trt = builder.import_tensorrt()
        precision = "fp16" if precision == "auto" and "fp16" in package.manifest["precisions"] else (
            "fp32" if precision == "auto" else precision)
        self.name, self.precision = "tensorrt", precision
        self._gpu = torch.cuda.get_device_name(0), "sm_%d%d" % torch.cuda.get_device_capability(0)  # engine keys
        self.device = f"cuda ({self._gpu[0]})"
        self.package = package
        self._builder, self._flavour, self._trt = builder, flavour, trt
        self._torch, self._device = torch, torch.device("cuda")
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        # Only the lean files: a below-floor style's FP32 fallback would need FP32 buffers in an FP16 pipeline, so
        # the precision's own engine serves it (the fidelity gate is ONNX Runtime's; verify_engine checks it here).
        self._routing = StyleRouting.of(package, package.file(precision), precision)
        self._size = None  # the working size of the frame being served (_use_model): route() builds for it
        self.pipeline = TorchCudaPipeline(None, StylizeKernels(torch.cuda.current_device()),
                                           half=precision == "fp16", channels_last=False,
                                           route=self.route if self._routing.lean_path else None)
        self._runners: dict = {}

    def engine_for(self, size_hw, lean: bool = False) -> "TrtEngineRunner":
        """The engine for frames of ``size_hw`` from the precision's file, or from its lean copy (the styles
        before the added ones that own channels), built on first use and cached on disk by the file's checksum."""
        size_hw = tuple(size_hw)
        if (size_hw, lean) not in self._runners:
            m = self.package.manifest
            path = self._routing.lean_path if lean else self.package.file(self.precision)
            num_styles = self._routing.lean_styles if lean else len(self.package.styles)
            key = self._builder.EngineKey(m["files"][path.name]["sha256"], self._flavour, self._trt.__version__,
                                          *self._gpu, self.precision, (size_hw,))
            engine = self._builder.load_cached(key)
            fresh = engine is None
            if fresh:
                engine = self._builder.build_engine(path.read_bytes(), m["input"]["name"], num_styles, [size_hw],
                                                    self._flavour, progress=True)
            runner = TrtEngineRunner(engine, self._trt, m["input"]["name"], m["style_input"]["name"],
                                     m["output"]["name"], self._dtype)
            if fresh:
                if self.precision != "fp32":  # overflow shows as NaN or black frames: check before caching
                    from sdk.tensorrt.verify import verify_engine
                    # A lean engine takes the old styles' part of the vector; the package's FP32 file is its
                    # reference for them (the added styles' channels are exactly 0 there).
                    verify_engine(lambda image, style: self._run_runner(runner, image, style[:, :num_styles]),
                                  self.package, size_hw, self.precision, styles=range(num_styles))
                self._builder.store(key, engine)
            self._runners[(size_hw, lean)] = runner
        return self._runners[(size_hw, lean)]

    def route(self, style: np.ndarray, size_hw=None) -> tuple["TrtEngineRunner", np.ndarray]:
        """The engine that serves ``style`` (1, N, 1, 1) at ``size_hw`` (default: the frame pipeline's current
        working size) and the style values it takes: the lean file's for a vector with no weight on an added
        style, else the precision's file's."""
        size_hw = self._size if size_hw is None else size_hw
        lean_style = self._routing.lean_style(style)
        if lean_style is not None:
            return self.engine_for(size_hw, lean=True), lean_style
        return self.engine_for(size_hw), style

    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        runner, values = self.route(style, image.shape[2:])
        return self._run_runner(runner, image, values)

    def _run_runner(self, runner: "TrtEngineRunner", image: np.ndarray, style: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(image)).to(self._device, self._dtype)
            s = torch.from_numpy(np.ascontiguousarray(style)).to(self._device, self._dtype)
            out = runner(x, s)[0]
            torch.cuda.current_stream().synchronize()
            return out.float().cpu().numpy()

    def _use_model(self, size_hw) -> None:
        self._size = tuple(size_hw)
        if self.pipeline.route is None:  # with lean files each slot asks route(), which builds only what it serves
            self.pipeline.model = self.engine_for(size_hw)

    def close(self) -> None:
        super().close()  # graphs hold the engines' contexts: the pipeline goes first
        self._runners.clear()


def create(_name: str, package, precision: str, variant: str | None = None) -> TensorRTBackend:
    if variant is not None:
        raise ModelLoadError("the tensorrt backend builds from the package's unpruned precisions "
                             f"({sorted(package.manifest['precisions'])}); variant={variant!r} is not supported there yet.")
    return TensorRTBackend(package, precision)
