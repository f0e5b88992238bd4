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
