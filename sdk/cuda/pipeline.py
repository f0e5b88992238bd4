"""The per-frame GPU pipeline of the torch-cuda backend.

host uint8 frame -> pinned buffer -> device (async) -> preprocess kernel (fused resize,
normalize, FP16 NCHW) -> generator (FP16, channels-last) -> postprocess kernel (fused
denormalize, resize back, strength blend, uint8 HWC) -> pinned buffer (async) -> host.

Device frames (``sdk.frames.DeviceFrame``, from ``__cuda_array_interface__``) skip the host. After
the caller's current stream and the producer's (if the array names one), they are copied device to
device into the slot's frame buffer (the graph's fixed input; a 720p frame is 2.8 MB), and the
result is a device tensor, or is copied into the caller's device ``out`` array.

For a fixed frame shape the whole device part is captured once as a CUDA graph and
replayed per frame (one launch instead of ~40). ``slots`` sets of buffers, each with its
own stream, let frame N+1 upload while frame N computes and frame N-1 downloads
(``submit`` / ``result``); every buffer stays referenced by its slot until the slot's
stream is synchronized.

Temporal smoothing runs in the postprocess kernel too. The previous frame's input and output
live in one pair of device buffers that each frame's graph reads and then overwrites, so the
frames' device work is chained with events (frame N+1's graph waits for frame N's; its upload
does not). Before the first frame of a stream (or after ``reset_temporal``) the previous input
is filled with the frame XOR 0x80: every channel then differs by 128 steps, beyond the fade, and
the first frame comes out unsmoothed from the same graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Slot:
    stream: object
    pinned_in: object
    pinned_out: object
    frame: object
    image: object
    style: object
    params: object  # float32 (strength, temporal) on the device: the post kernel reads them there
    styled: object
    out: object
    model: object = None  # what serves this slot's style: the pipeline's model, or what `route` picked
    graph: object = None
    key: tuple | None = None
    bound: dict | None = None  # the model's style values for this slot's style (OnnxGraphModule.bind)
    style_key: bytes | None = None  # the style vector in `style` (and `bound`), as bytes
    params_key: tuple | None = None  # the (strength, temporal) in `params`
    busy: bool = False
    device_result: object = None  # for a device frame: what result() returns (a tensor, or the caller's out)


@dataclass
class _Previous:
    """The last smoothed frame's input and output on the device, for the next frame's smoothing."""
    input: object
    output: object
    order: str
    generation: int  # part of the graph key: graphs captured with older buffers are not replayed
    valid: bool = False


class TorchCudaPipeline:
    def __init__(self, graph_module, kernels, half: bool = True, use_graphs: bool = True, slots: int = 2,
                 channels_last: bool = True, route=None):
        """``route``: style vector -> (model, the style values it takes), for a package whose files serve
        different styles (lean and fallback files, base.StyleRouting); None: ``graph_module`` serves every style."""
        import torch

        self.torch = torch
        self.model = graph_module
        self.route = route
        self.kernels = kernels
        self.half = half
        self.use_graphs = use_graphs
        self.channels_last = channels_last  # torch convs prefer NHWC on tensor cores; TensorRT takes NCHW
        self.dtype = torch.float16 if half else torch.float32
        self._slots = [None] * slots
        self._next = 0
        self._previous: _Previous | None = None
        self._previous_done = None  # event recorded after the last device work that wrote self._previous
        self._generation = 0
        self.captures = 0  # CUDA graphs captured so far (tests and benchmarks read it)

    def _make_slot(self, shape, size_hw, num_styles: int):
        torch = self.torch
        h, w = size_hw
        return _Slot(
            stream=torch.cuda.Stream(),
            pinned_in=torch.empty(shape, dtype=torch.uint8, pin_memory=True),
            pinned_out=torch.empty(shape, dtype=torch.uint8, pin_memory=True),
            frame=torch.empty(shape, dtype=torch.uint8, device="cuda"),
            image=torch.empty((1, 3, h, w), dtype=self.dtype, device="cuda"),
            style=torch.empty((1, num_styles, 1, 1), dtype=self.dtype, device="cuda"),
            params=torch.empty(2, dtype=torch.float32, device="cuda"),
            styled=None,
            out=torch.empty(shape, dtype=torch.uint8, device="cuda"),
        )

    def _device_work(self, slot: _Slot, order: str, size_hw, smooth: bool = False):
        """Enqueue pre -> model -> post on the current stream (captured into a graph when capturing).
        Strength and temporal weight are read from slot.params. With ``smooth`` the post kernel smooths
        toward self._previous, which is then overwritten with this frame's input and output."""
        torch = self.torch
        height, width = slot.frame.shape[:2]
        h, w = size_hw
        stream = torch.cuda.current_stream().cuda_stream
        pitch = slot.frame.stride(0)
        self.kernels.preprocess(slot.frame.data_ptr(), pitch, height, width, order, slot.image.data_ptr(), h, w,
                                self.half, stream)
        image = slot.image.contiguous(memory_format=torch.channels_last) if self.channels_last else slot.image
        model = slot.model
        styled = (model.run_bound(image, slot.bound) if slot.bound is not None else model(image, slot.style))[0]
        slot.styled = styled.contiguous()  # NCHW dense for the post kernel; kept alive by the slot
        previous = self._previous if smooth else None
        self.kernels.postprocess(slot.styled.data_ptr(), h, w, slot.frame.data_ptr(), pitch, height, width, order,
                                 0.0, slot.out.data_ptr(), slot.out.stride(0), self.half,
                                 previous.output.data_ptr() if previous else 0,
                                 previous.output.stride(0) if previous else 0,
                                 previous.input.data_ptr() if previous else 0,
                                 previous.input.stride(0) if previous else 0, 0.0, stream=stream,
                                 params_ptr=slot.params.data_ptr())
        if previous is not None:
            previous.input.copy_(slot.frame)
            previous.output.copy_(slot.out)

    def _bind_style(self, slot: _Slot) -> None:
        """Run the model's style program for slot.style into the slot's own buffers, which its graph
        reads: only when the slot's style changes, not every frame. Enqueued on the current stream (the
        slot's), so a replay still in flight on it reads the old values."""
        bound = slot.model.bind(slot.style)
        if slot.bound is None:
            slot.bound = {name: value.clone() for name, value in bound.items()}
        else:
            for name, value in bound.items():
                slot.bound[name].copy_(value)

    def reset_temporal(self) -> None:
        """The next smoothed frame starts afresh (a scene cut, or the Stylizer smoothed one on the CPU)."""
        if self._previous is not None:
            self._previous.valid = False

    def _previous_for(self, shape: tuple, order: str) -> _Previous:
        torch = self.torch
        previous = self._previous
        if previous is None or tuple(previous.input.shape) != shape or previous.order != order:
            if self._previous_done is not None:  # in-flight work may still read the buffers being dropped
                self._previous_done.synchronize()
            self._generation += 1
            previous = self._previous = _Previous(torch.empty(shape, dtype=torch.uint8, device="cuda"),
                                                  torch.empty(shape, dtype=torch.uint8, device="cuda"),
                                                  order, self._generation)
        return previous

    def submit(self, frame, order: str, size_hw, style_vec: np.ndarray, strength: float,
               temporal: float = 0.0, out=None) -> int:
        """Start a frame (a host ndarray or a DeviceFrame) on the next slot; returns the slot index to
        pass to :meth:`result`. ``out``: a DeviceFrame the result of a device frame is copied into."""
        from sdk.frames import DeviceFrame

        torch = self.torch
        on_device = isinstance(frame, DeviceFrame)
        shape = tuple(frame.shape)
        index = self._next
        self._next = (self._next + 1) % len(self._slots)
        slot = self._slots[index]
        if slot is not None and slot.busy:
            self.result(index)  # the slot's previous frame must be collected before reuse
        previous = self._previous_for(shape, order) if temporal > 0.0 else None
        if slot is None or tuple(slot.frame.shape) != shape or slot.image.shape[2:] != tuple(size_hw):
            slot = self._slots[index] = self._make_slot(shape, size_hw, style_vec.shape[1])
        if not on_device:
            slot.pinned_in.numpy()[...] = frame  # host copy into pinned memory; handles strides
        caller = torch.cuda.current_stream() if on_device else None
        with torch.cuda.stream(slot.stream):
            params_key = (float(strength), float(temporal))
            if slot.params_key != params_key:  # a tiny synchronous host->device copy, so only when a slider moves
                slot.params.copy_(torch.tensor(params_key, dtype=torch.float32))  # the graph reads slot.params
                slot.params_key = params_key
            style_key = style_vec.tobytes()
            if slot.style_key != style_key or slot.model is None or (self.route is None and slot.model is not self.model):
                # A style changes rarely: its copy, its route and the style program run only then.
                model, values = self.route(style_vec) if self.route is not None else (self.model, style_vec)
                if slot.model is not model or tuple(slot.style.shape) != tuple(values.shape):
                    # Another file: its own style buffer and bound values (the graph key changes with it).
                    slot.model, slot.bound = model, None
                    slot.style = torch.empty(tuple(values.shape), dtype=self.dtype, device="cuda")
                slot.style.copy_(torch.from_numpy(np.ascontiguousarray(values)).to(self.dtype))
                if getattr(model, "style_input", None) is not None:
                    self._bind_style(slot)
                slot.style_key = style_key
            # Strength and temporal weight are not in the key: the graph reads them from slot.params.
            key = (shape, order, tuple(size_hw), previous.generation if previous else None, id(slot.model))
            if on_device:
                # Wait for the caller's current stream (where torch, which exports no stream, enqueued the
                # frame, and where `out` may still be read) and for the stream the array names (CUDA
                # array interface v3; CuPy names 1, the legacy default stream, through the driver).
                ready = torch.cuda.Event()
                ready.record(caller)
                slot.stream.wait_event(ready)
                if frame.stream is not None:
                    self.kernels.wait_for_stream(slot.stream.cuda_stream, frame.stream)
                self.kernels.copy_2d(slot.frame.data_ptr(), slot.frame.stride(0), frame.ptr, frame.pitch,
                                     frame.width * frame.channels, frame.height, slot.stream.cuda_stream)
            else:
                slot.frame.copy_(slot.pinned_in, non_blocking=True)
            if previous is not None:
                if self._previous_done is not None:
                    slot.stream.wait_event(self._previous_done)  # the last frame has written self._previous
                if not previous.valid:  # differs by 128 steps everywhere: no smoothing for this frame
                    torch.bitwise_xor(slot.frame, 0x80, out=previous.input)
            if self.use_graphs:
                if slot.key != key:
                    self._capture(slot, order, size_hw, previous is not None)
                    slot.key = key
                slot.graph.replay()
            else:
                self._device_work(slot, order, size_hw, previous is not None)
            if previous is not None:
                self._previous_done = torch.cuda.Event()
                self._previous_done.record(slot.stream)
                previous.valid = True
            if not on_device:
                slot.pinned_out.copy_(slot.out, non_blocking=True)
            elif out is not None:
                self.kernels.copy_2d(out.ptr, out.pitch, slot.out.data_ptr(), slot.out.stride(0),
                                     out.width * out.channels, out.height, slot.stream.cuda_stream)
                slot.device_result = out.owner
            else:
                slot.device_result = slot.out.clone()  # the slot's buffer is reused by its next frame
        if previous is None:
            self.reset_temporal()
        slot.busy = True
        return index

    def _capture(self, slot: _Slot, order: str, size_hw, smooth: bool):
        torch = self.torch
        # Warm up on a side stream (cuDNN picks algorithms, allocator settles), then capture. The
        # warm-up leaves the previous frame's buffers alone: the replay reads them.
        self._device_work(slot, order, size_hw)
        torch.cuda.current_stream().synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=slot.stream):
            self._device_work(slot, order, size_hw, smooth)
        slot.graph = graph
        self.captures += 1

    def result(self, index: int):
        """The frame started on slot ``index``: a host ndarray, or for a device frame a device tensor
        (usable on the caller's current stream) or the caller's ``out``."""
        slot = self._slots[index]
        slot.stream.synchronize()
        slot.busy = False
        if slot.device_result is None:
            return slot.pinned_out.numpy().copy()
        result, slot.device_result = slot.device_result, None
        if isinstance(result, self.torch.Tensor) and result.is_cuda:
            result.record_stream(self.torch.cuda.current_stream())  # allocated on the slot's stream
        return result

    def close(self) -> None:
        """Wait for every slot's work, then drop buffers, graphs and the kernels' module."""
        for slot in self._slots:
            if slot is not None:
                slot.stream.synchronize()
        self._slots = [None] * len(self._slots)
        self._previous, self._previous_done = None, None
        close = getattr(self.kernels, "close", None)
        if close is not None:
            close()

    def run(self, frame, order, size_hw, style_vec, strength, temporal: float = 0.0, out=None):
        return self.result(self.submit(frame, order, size_hw, style_vec, strength, temporal, out))
