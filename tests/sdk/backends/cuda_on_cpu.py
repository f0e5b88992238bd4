"""torch with CUDA's streams and events as no-ops and device="cuda" tensors on the CPU: what lets the
torch-cuda/tensorrt frame pipeline's own logic run without a GPU (with kernels.emulator.KernelEmulator)."""
import contextlib

import torch


class _Stream:
    cuda_stream = 0

    def wait_event(self, event):
        event.waited = True

    def synchronize(self):
        pass


class _Event:
    waited = False
    recorded_on = []  # every stream an event was recorded on, in order

    def record(self, stream=None):
        _Event.recorded_on.append(stream)

    def synchronize(self):
        pass


class _NoCuda:
    Stream, Event = _Stream, _Event  # no ExternalStream: a producer's stream is waited for through the driver
    caller_stream = _Stream()  # what torch.cuda.current_stream() returns

    @staticmethod
    def current_stream():
        return _NoCuda.caller_stream

    @staticmethod
    @contextlib.contextmanager
    def stream(_stream):
        yield


class TorchOnCpu:
    """torch, with CUDA's streams and events as no-ops and device="cuda" tensors on the CPU."""
    cuda = _NoCuda()

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def empty(*shape, device=None, pin_memory=False, **kwargs):
        return torch.empty(*shape, **kwargs)


def tensorrt_on_cpu(monkeypatch, package, precision: str = "fp32"):
    """A TensorRTBackend whose "engines" are the ONNX files they would be built from, run by the torch interpreter
    on the CPU, inside its own frame pipeline (kernels emulated, streams no-ops): the backend's routing, engine
    cache and verification, without TensorRT or a GPU. Returns (backend, builds): each build's (sha256 of the ONNX
    file it was built from, number of styles, profiles)."""
    import hashlib
    import types

    import sdk.backends.tensorrt as tensorrt_backend
    from kernels.emulator import KernelEmulator
    from sdk.backends.onnx_graph import OnnxGraphModule
    from sdk.cuda import kernels
    from sdk.tensorrt import builder

    builds = []

    def build_engine(onnx_bytes, input_name, num_styles, profiles, flavour=None, compute_capability=None,
                     progress=False):
        builds.append((hashlib.sha256(onnx_bytes).hexdigest(), num_styles, tuple(profiles)))
        return onnx_bytes

    class CpuEngine:  # TrtEngineRunner's interface
        def __init__(self, engine_bytes, trt, input_name, style_name, output_name, dtype):
            self.graph = OnnxGraphModule(engine_bytes, torch.device("cpu"), "engine", dtype=dtype)
            self.order = [input_name, style_name]

        def __call__(self, image, style):
            feeds = {self.order[0]: image, self.order[1]: style}
            return self.graph(*[feeds[name] for name in self.graph.inputs])

    monkeypatch.setattr(builder, "import_tensorrt", lambda flavour=None: ("tensorrt_rtx",
                                                                          types.SimpleNamespace(__version__="cpu")))
    monkeypatch.setattr(builder, "build_engine", build_engine)
    monkeypatch.setattr(tensorrt_backend, "TrtEngineRunner", CpuEngine)
    monkeypatch.setattr(kernels, "StylizeKernels", lambda _device: KernelEmulator())
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _index=0: "CPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda _index=0: (8, 6))
    backend = tensorrt_backend.TensorRTBackend(package, precision)
    backend._torch, backend._device = TorchOnCpu(), torch.device("cpu")
    backend.pipeline.torch, backend.pipeline.use_graphs = TorchOnCpu(), False
    return backend, builds
