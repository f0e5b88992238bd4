"""The torch-cuda/tensorrt frame pipeline's own logic, run on the CPU.

TorchCudaPipeline is handed a torch whose CUDA streams and events do nothing and whose "cuda"
tensors live on the CPU, the kernels' CPU emulation (the .cu code itself) and the generator
on the CPU. What runs is the pipeline's code: slots, double buffering, the previous-frame
buffers of temporal smoothing, the XOR start, resets and shape changes. What cannot run here is
the stream ordering and CUDA graph capture; tests/kernels/test_gpu.py covers those on a GPU.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sdk  # noqa: E402
from kernels.emulator import KernelEmulator  # noqa: E402
from sdk import frames  # noqa: E402
from sdk.backends.onnx_graph import OnnxGraphModule  # noqa: E402
from sdk.cuda.pipeline import TorchCudaPipeline  # noqa: E402
from tests.conftest import one_hot_style  # noqa: E402
from tests.sdk.backends.cuda_on_cpu import TorchOnCpu, _Event, _NoCuda, _Stream  # noqa: E402


@pytest.fixture(scope="module")
def package():
    return sdk.load_package()


@pytest.fixture(scope="module")
def emulator():
    return KernelEmulator()


def pipeline(package, emulator, slots=2):
    graph = OnnxGraphModule(package.file("fp32").read_bytes(), torch.device("cpu"), "generator.onnx")
    p = TorchCudaPipeline(graph, emulator, half=False, use_graphs=False, slots=slots, channels_last=False)
    p.torch = TorchOnCpu()
    return p


@pytest.fixture(scope="module")
def clip():
    """A still noisy scene with a moving bright block, 64x96."""
    rng = np.random.default_rng(0)
    base = rng.integers(40, 216, (64, 96, 3), dtype=np.uint8)
    out = []
    for i in range(7):
        f = np.clip(base.astype(np.int16) + rng.integers(-5, 6, base.shape), 0, 255).astype(np.uint8)
        f[10:30, 5 + 10 * i:25 + 10 * i] = 250
        out.append(f)
    return out


STYLE = one_hot_style(0)
OTHER = one_hot_style(2)
SIZE = (64, 96)


def smoothed_on_the_cpu(unsmoothed, clip, temporal, cut=None):
    """What the Stylizer's CPU path makes of the unsmoothed outputs (sdk.frames.temporal_blend)."""
    out, previous = [], None
    for i, (u, f) in enumerate(zip(unsmoothed, clip, strict=True)):
        if i == cut:
            previous = None
        v = u if previous is None else frames.temporal_blend(u, previous[1], f, previous[0], temporal)
        previous = (f, v)
        out.append(v)
    return out


def test_run_without_smoothing_matches_the_emulated_kernels_directly(package, emulator, clip):
    from kernels.cpu_reference import CpuReference
    p = pipeline(package, emulator)
    got = p.run(clip[0], "bgr", SIZE, STYLE, 0.8)
    image = frames.preprocess(clip[0], SIZE, "bgr")
    styled = OnnxGraphModule(package.file("fp32").read_bytes(), torch.device("cpu"), "g")(
        torch.from_numpy(image), torch.from_numpy(STYLE))[0].numpy()
    want = CpuReference().postprocess(styled, clip[0], "bgr", 0.8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # pre on the kernels vs OpenCV: 1 step


@pytest.mark.parametrize("pipelined", [False, True], ids=["run", "submit-result"])
def test_temporal_smoothing_matches_the_cpu_path(package, emulator, clip, pipelined):
    plain, smooth = pipeline(package, emulator), pipeline(package, emulator)
    unsmoothed = [plain.run(f, "bgr", SIZE, STYLE, 0.8) for f in clip]
    got = []
    if pipelined:
        pending = None
        for i, f in enumerate(clip):
            if i == 4:
                smooth.reset_temporal()  # a cut between two submits
            current = smooth.submit(f, "bgr", SIZE, STYLE, 0.8, temporal=0.6)
            if pending is not None:
                got.append(smooth.result(pending))
            pending = current
        got.append(smooth.result(pending))
    else:
        for i, f in enumerate(clip):
            if i == 4:
                smooth.reset_temporal()
            got.append(smooth.run(f, "bgr", SIZE, STYLE, 0.8, temporal=0.6))
    want = smoothed_on_the_cpu(unsmoothed, clip, 0.6, cut=4)
    for i, (x, y) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(x, y, err_msg=f"frame {i}")
    np.testing.assert_array_equal(got[0], unsmoothed[0])  # the XOR start: the first frame is not smoothed
    assert (got[2] != unsmoothed[2]).mean() > 0.3


def test_a_frame_without_smoothing_or_a_new_shape_starts_smoothing_afresh(package, emulator, clip):
    p, plain = pipeline(package, emulator), pipeline(package, emulator)
    p.run(clip[0], "bgr", SIZE, STYLE, 0.8, temporal=0.6)
    p.run(clip[1], "bgr", SIZE, STYLE, 0.8)  # temporal off for one frame
    np.testing.assert_array_equal(p.run(clip[2], "bgr", SIZE, STYLE, 0.8, temporal=0.6),
                                  plain.run(clip[2], "bgr", SIZE, STYLE, 0.8))
    first_buffers = p._previous
    small = np.ascontiguousarray(clip[3][:32, :48])
    np.testing.assert_array_equal(p.run(small, "bgr", (32, 48), STYLE, 0.8, temporal=0.6),
                                  plain.run(small, "bgr", (32, 48), STYLE, 0.8))
    assert p._previous is not first_buffers and p._previous.generation == first_buffers.generation + 1


def test_each_smoothed_frame_waits_for_the_one_before(package, emulator, clip):
    """The graph of frame N+1 reads what frame N's wrote: its stream waits on frame N's event."""
    p = pipeline(package, emulator)
    events = []
    for f in clip[:3]:
        p.submit(f, "bgr", SIZE, STYLE, 0.8, temporal=0.6)
        events.append(p._previous_done)
    assert events[0].waited and events[1].waited and not events[2].waited
    assert len({id(e) for e in events}) == 3


# -- device frames (__cuda_array_interface__), with host memory standing in for the device ----------

class FakeDeviceArray:
    """A host array behind a __cuda_array_interface__: the CPU emulation reads the pointer like a device one."""

    def __init__(self, array: np.ndarray, stream=None, readonly=False):
        self.array = array
        self.__cuda_array_interface__ = {
            "shape": array.shape, "typestr": "|u1", "data": (array.ctypes.data, readonly),
            "strides": None if array.flags.c_contiguous else array.strides, "version": 3, "stream": stream}


def gpu_like_stylizer(package, emulator, **options):
    """A Stylizer whose backend is the torch backend with this CPU-run pipeline: the torch-cuda code path."""
    from sdk.backends.torch import TorchBackend
    s = sdk.Stylizer(backend="onnxruntime", precision="fp32", **options)
    backend = TorchBackend("torch", package, "fp32")
    backend.pipeline = TorchCudaPipeline(backend._graph, emulator, half=False, use_graphs=False, channels_last=False)
    backend.pipeline.torch = TorchOnCpu()
    s._backend = backend
    return s


def test_a_device_frame_gives_what_the_same_host_frame_gives(package, emulator, clip):
    s = gpu_like_stylizer(package, emulator, style="vintage", strength=0.7)
    host = s(clip[0])
    device = s(FakeDeviceArray(clip[0]))
    assert isinstance(device, torch.Tensor) and device.dtype == torch.uint8 and tuple(device.shape) == clip[0].shape
    np.testing.assert_array_equal(device.numpy(), host)


def test_device_frames_pitched_alpha_out_and_the_producer_stream(package, emulator, clip):
    s = gpu_like_stylizer(package, emulator, color_order="rgb")
    rgba = np.concatenate([clip[1], np.full(clip[1].shape[:2] + (1,), 77, np.uint8)], axis=2)
    padded = np.zeros((rgba.shape[0], rgba.shape[1] * 4 + 24), np.uint8)  # rows 24 bytes longer than the pixels
    pitched = np.ndarray(rgba.shape, np.uint8, padded, strides=(padded.shape[1], 4, 1))
    pitched[...] = rgba
    out = np.zeros_like(rgba)
    emulator.stream_waits.clear()
    _Event.recorded_on.clear()
    got = s(FakeDeviceArray(pitched, stream=7), out=FakeDeviceArray(out))
    assert isinstance(got, FakeDeviceArray) and got.array is out  # the caller's out, filled in
    np.testing.assert_array_equal(out, s(rgba))
    np.testing.assert_array_equal(out[:, :, 3], 77)
    # Waited for the producer's stream (CUDA array interface v3) through the driver, so that the special
    # handles 1 and 2 work too, and for the caller's current stream, which may still read `out`.
    assert emulator.stream_waits == [(_Stream.cuda_stream, 7)]
    assert _Event.recorded_on[0] is _NoCuda.caller_stream
    for special in (1, 2):  # CuPy names 1 (the legacy default stream): torch's ExternalStream refuses it
        emulator.stream_waits.clear()
        s(FakeDeviceArray(rgba, stream=special))
        assert emulator.stream_waits == [(_Stream.cuda_stream, special)]
    _Event.recorded_on.clear()
    emulator.stream_waits.clear()
    s(FakeDeviceArray(rgba))  # no stream named (v2, as torch exports): the caller's current stream alone
    assert _Event.recorded_on == [_NoCuda.caller_stream] and emulator.stream_waits == []


def test_device_frames_pipeline_and_smooth_in_the_kernel(package, emulator, clip):
    host_path = gpu_like_stylizer(package, emulator, temporal=0.6)
    device_path = gpu_like_stylizer(package, emulator, temporal=0.6)
    want = [host_path(f) for f in clip]
    got = [out.numpy() for out in device_path.stream(FakeDeviceArray(f) for f in clip)]
    for i, (x, y) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(x, y, err_msg=f"frame {i}")


@pytest.mark.parametrize("make,error,message", [
    (lambda f: FakeDeviceArray(f[:, :, 0].copy()), "InvalidFrameError", r"shape \(64, 96\), expected HxWx3"),
    (lambda f: FakeDeviceArray(f[:, ::2]), "InvalidFrameError", r"strides \(288, 6, 1\); expected"),
    (lambda f: FakeDeviceArray(f, stream=0), "InvalidFrameError", "names stream 0"),
])
def test_bad_device_frames_are_refused_and_the_stylizer_keeps_working(package, emulator, clip, make, error, message):
    import sdk.errors
    s = gpu_like_stylizer(package, emulator)
    with pytest.raises(getattr(sdk.errors, error), match=message):
        s(make(clip[0]))
    np.testing.assert_array_equal(s(FakeDeviceArray(clip[0])).numpy(), s(clip[0]))


def test_device_frame_options_the_gpu_cannot_honour_are_refused(package, emulator, clip):
    from sdk.errors import InvalidArgumentError
    s = gpu_like_stylizer(package, emulator, preserve_color=True)
    with pytest.raises(InvalidArgumentError, match="preserve_color runs on the CPU"):
        s(FakeDeviceArray(clip[0]))
    s.preserve_color = False
    with pytest.raises(InvalidArgumentError, match=r"out is a read-only device array of shape \(64, 96, 3\)"):
        s(FakeDeviceArray(clip[0]), out=FakeDeviceArray(np.zeros_like(clip[0]), readonly=True))
    with pytest.raises(InvalidArgumentError, match=r"expected a writable one of the frame's shape \(64, 96, 3\)"):
        s(FakeDeviceArray(clip[0]), out=FakeDeviceArray(np.zeros((64, 96, 4), np.uint8)))


def test_close_waits_for_the_slots_then_drops_them_and_closes_the_kernels(package, emulator, clip):
    class ClosingKernels:
        closed = 0

        def __getattr__(self, name):
            return getattr(emulator, name)

        def close(self):
            ClosingKernels.closed += 1

    p = pipeline(package, ClosingKernels())
    p.submit(clip[0], "bgr", SIZE, STYLE, 0.8, temporal=0.5)
    p.close()
    assert ClosingKernels.closed == 1 and p._slots == [None, None] and p._previous is None


def test_strength_and_temporal_can_change_every_frame(package, emulator, clip):
    """A strength slider: each frame's values reach the post kernel (through slot.params)."""
    moving = pipeline(package, emulator)
    for f, strength in zip(clip[:4], (0.2, 0.9, 0.5, 1.0), strict=True):
        np.testing.assert_array_equal(moving.run(f, "bgr", SIZE, STYLE, strength),
                                      pipeline(package, emulator).run(f, "bgr", SIZE, STYLE, strength))


def test_a_slot_copies_strength_and_temporal_only_when_they_change(package, emulator, clip):
    """slot.params goes to the device (a synchronous copy) only when a slot's values change; every frame still
    gets its own: it equals a new pipeline's frame for the same values."""
    p = pipeline(package, emulator)
    copies = []

    class CountingTorch(TorchOnCpu):
        @staticmethod
        def tensor(values, **kwargs):  # the pipeline's one use: (strength, temporal) on their way to slot.params
            copies.append(tuple(round(v, 3) for v in values))
            return torch.tensor(values, **kwargs)

    p.torch = CountingTorch()
    values = [(0.8, 0.0), (0.8, 0.0), (0.8, 0.0), (0.8, 0.0), (0.3, 0.0), (0.8, 0.0), (0.3, 0.5)]
    for f, (strength, temporal) in zip(clip, values, strict=True):
        fresh = pipeline(package, emulator)
        np.testing.assert_array_equal(p.run(f, "bgr", SIZE, STYLE, strength, temporal=temporal),
                                      fresh.run(f, "bgr", SIZE, STYLE, strength, temporal=temporal))
    # Slots alternate: slot 0 gets frames 0, 2, 4, 6; slot 1 frames 1, 3, 5.
    assert copies == [(0.8, 0.0), (0.8, 0.0), (0.3, 0.0), (0.3, 0.5)]


def test_a_tensor_whose_interface_raises_gets_a_typed_error(package, emulator, clip):
    from sdk.errors import InvalidFrameError

    class RequiresGrad:
        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad.")

    s = gpu_like_stylizer(package, emulator)
    with pytest.raises(InvalidFrameError, match="reading its __cuda_array_interface__ failed: Can't get"):
        s(RequiresGrad())
    np.testing.assert_array_equal(s(FakeDeviceArray(clip[0])).numpy(), s(clip[0]))


def test_a_folded_model_is_bound_once_per_style_and_gives_the_same_frames(package, emulator, clip):
    """With the style program split off (OnnxGraphModule(style_input=...)), each slot binds its style
    once and rebinds only when it changes; the frames equal those of the graph as written."""
    folded = OnnxGraphModule(package.file("fp32").read_bytes(), torch.device("cpu"), "generator.onnx",
                             style_input=package.manifest["style_input"]["name"])
    binds = []
    real_bind = folded.bind
    folded.bind = lambda style: binds.append(style.flatten().tolist()) or real_bind(style)
    p = TorchCudaPipeline(folded, emulator, half=False, use_graphs=False, slots=2, channels_last=False)
    p.torch = TorchOnCpu()
    plain = pipeline(package, emulator)
    styles = [STYLE, STYLE, STYLE, OTHER, OTHER, STYLE]
    for f, style in zip(clip, styles):
        got, want = p.run(f, "bgr", SIZE, style, 0.8), plain.run(f, "bgr", SIZE, style, 0.8)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # FP32 rounding of the fold, at most
    # Slots alternate: slot 0 sees styles 0, 0, 1 (frames 0, 2, 4), slot 1 sees 0, 1, 0 (frames 1, 3, 5).
    style, other = STYLE.flatten().tolist(), OTHER.flatten().tolist()
    assert binds == [style, style, other, other, style]



@pytest.mark.parametrize("folded", [False, True], ids=["as written", "style folded"])
def test_a_slot_copies_its_style_only_when_it_changes_and_each_frame_gets_its_own(package, emulator, clip, folded):
    """The style vector goes to the device (and, folded, through the style program) only when a slot's style
    changes, not every frame; each frame still gets its own style: it equals what a new pipeline makes of that
    frame and style alone (exactly as written; folded, within the fold's FP32 rounding)."""
    graph = OnnxGraphModule(package.file("fp32").read_bytes(), torch.device("cpu"), "generator.onnx",
                            style_input=package.manifest["style_input"]["name"] if folded else None)
    p = TorchCudaPipeline(graph, emulator, half=False, use_graphs=False, slots=2, channels_last=False)
    copies = []

    class CountingTorch(TorchOnCpu):
        @staticmethod
        def from_numpy(array):  # the pipeline's one use: the style vector on its way to slot.style
            copies.append(array.flatten().tolist())
            return torch.from_numpy(array)

    p.torch = CountingTorch()
    for f, style in zip(clip, [STYLE, STYLE, STYLE, OTHER, OTHER, STYLE]):
        got = p.run(f, "bgr", SIZE, style, 0.8)
        want = pipeline(package, emulator).run(f, "bgr", SIZE, style, 0.8)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= (1 if folded else 0)
    # Slots alternate: slot 0 sees styles 0, 0, 1 (frames 0, 2, 4), slot 1 sees 0, 1, 0 (frames 1, 3, 5).
    style, other = STYLE.flatten().tolist(), OTHER.flatten().tolist()
    assert copies == [style, style, other, other, style]
