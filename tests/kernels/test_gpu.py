"""GPU checks that run in the test suite where a CUDA GPU is present (benchmarks/gpu_check.py does more)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU: the kernels are checked on the CPU build and by NVRTC here", allow_module_level=True)
pytest.importorskip("cuda.bindings.driver", reason="cuda-bindings is not installed")

from kernels.cpu_reference import CpuReference  # noqa: E402
from sdk.cuda.kernels import StylizeKernels  # noqa: E402


@pytest.mark.parametrize("order", ["bgr", "rgba"])
def test_kernels_match_cpu_reference_on_odd_sizes(order):
    kernels, ref = StylizeKernels(), CpuReference()
    rng = np.random.default_rng(0)
    channels = 4 if order == "rgba" else 3
    frame = rng.integers(0, 256, (129, 237, channels), dtype=np.uint8)
    dframe = torch.from_numpy(frame).cuda()
    pre = torch.full((1, 3, 128, 236), float("nan"), device="cuda")
    kernels.preprocess(dframe.data_ptr(), dframe.stride(0), 129, 237, order, pre.data_ptr(), 128, 236, False)
    torch.cuda.synchronize()
    assert np.abs(pre.cpu().numpy() - ref.preprocess(frame, order, (128, 236))).max() * 127.5 <= 1
    out = torch.zeros_like(dframe)
    kernels.postprocess(pre.data_ptr(), 128, 236, dframe.data_ptr(), dframe.stride(0), 129, 237, order, 0.6,
                        out.data_ptr(), out.stride(0), False)
    torch.cuda.synchronize()
    want = ref.postprocess(pre.cpu().numpy(), frame, order, 0.6)
    assert np.abs(out.cpu().numpy().astype(int) - want.astype(int)).max() <= 1


def test_torch_cuda_backend_matches_onnxruntime_within_tolerance():
    import sdk
    frame = np.random.default_rng(1).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    with sdk.Stylizer(backend="torch-cuda") as gpu, sdk.Stylizer(backend="onnxruntime", precision="fp32") as cpu:
        diff = np.abs(gpu(frame).astype(int) - cpu(frame).astype(int))
    assert diff.mean() < 1.0 and diff.max() <= 12  # FP16 model vs FP32


def test_torch_cuda_smooths_in_the_kernel_as_the_cpu_path_does():
    """temporal on the GPU path (post kernel, previous frame on the device, graphs chained) against the
    CPU path's frames.temporal_blend over the same backend's unsmoothed outputs, called and pipelined."""
    import sdk
    from sdk import frames
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    clip = [np.clip(base.astype(np.int16) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
            for _ in range(8)]
    with sdk.Stylizer(backend="torch-cuda") as plain, sdk.Stylizer(backend="torch-cuda", temporal=0.6) as smooth:
        want, unsmoothed, previous = [], [], None
        for f in clip:
            out = plain(f)
            unsmoothed.append(out)
            if previous is not None:
                out = frames.temporal_blend(out, previous[1], f, previous[0], 0.6)
            previous = (f, out)
            want.append(out)
        called = [smooth(f) for f in clip]
        smooth.reset()
        piped = list(smooth.stream(clip))
    for got in (called, piped):
        for i, (x, y) in enumerate(zip(got, want, strict=True)):
            assert np.abs(x.astype(int) - y.astype(int)).max() <= 1, f"frame {i}"
    assert (called[3] != unsmoothed[3]).mean() > 0.1  # it did smooth


def test_device_frames_stay_on_the_gpu_and_match_host_frames():
    """torch CUDA tensors (and CuPy arrays where CuPy is installed) in, through __cuda_array_interface__."""
    import sdk
    frame = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    with sdk.Stylizer(backend="torch-cuda", strength=0.8) as s:
        host = s(frame)
        tensor = torch.from_numpy(frame).cuda()
        got = s(tensor)
        assert got.is_cuda and got.dtype == torch.uint8 and tuple(got.shape) == frame.shape
        np.testing.assert_array_equal(got.cpu().numpy(), host)
        wide = torch.zeros((360, 700, 3), dtype=torch.uint8, device="cuda")
        wide[:, :640] = tensor
        out = torch.empty_like(tensor)
        assert s(wide[:, :640], out=out) is out  # pitched rows in, the caller's buffer out
        np.testing.assert_array_equal(out.cpu().numpy(), host)
        try:
            import cupy
        except ImportError:
            return
        # CuPy names stream 1 (the legacy default stream) in its interface, which torch cannot wrap.
        np.testing.assert_array_equal(s(cupy.asarray(tensor)).cpu().numpy(), host)
        with cupy.cuda.Stream(non_blocking=True):  # a frame still being made on a stream of CuPy's own
            produced = cupy.asarray(tensor) ^ 0
            np.testing.assert_array_equal(s(produced).cpu().numpy(), host)


def test_a_strength_slider_replays_the_same_graphs():
    """Strength and temporal live in device memory that the graph reads: changing them every frame
    captures no new graph, and each frame gets its own strength."""
    from sdk import load_package
    from sdk.backends.onnx_graph import OnnxGraphModule
    from sdk.cuda.pipeline import TorchCudaPipeline
    package = load_package()
    graph = OnnxGraphModule(package.file("fp32").read_bytes(), torch.device("cuda"), "generator.onnx",
                            dtype=torch.float16, channels_last=True)
    kernels = StylizeKernels()
    slider, fixed = TorchCudaPipeline(graph, kernels), TorchCudaPipeline(graph, kernels, slots=1)
    style = np.eye(len(package.style_names), dtype=np.float32)[0].reshape(1, -1, 1, 1)
    frame = np.random.default_rng(4).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    with torch.inference_mode():
        for strength in np.linspace(0.1, 1.0, 10):
            want = TorchCudaPipeline(graph, kernels, use_graphs=False, slots=1).run(frame, "bgr", (360, 640),
                                                                                   style, float(strength))
            got = slider.run(frame, "bgr", (360, 640), style, float(strength))
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # graph vs eager: same kernels
        assert slider.captures == 2  # one per slot, at the first frame of each
        fixed.run(frame, "bgr", (360, 640), style, 0.5)
        assert fixed.captures == 1


def test_a_style_change_rebinds_the_folded_model_without_a_new_graph():
    """The torch-cuda backend folds the style into the generator's weights per slot (OnnxGraphModule
    with style_input). A style change rewrites the slot's bound weights in place: the captured graphs
    are replayed, not captured again, and every frame shows its own style."""
    from sdk import load_package
    from sdk.backends.onnx_graph import OnnxGraphModule
    from sdk.cuda.pipeline import TorchCudaPipeline
    package = load_package()
    data = package.file("fp32").read_bytes()
    plain = OnnxGraphModule(data, torch.device("cuda"), "generator.onnx", dtype=torch.float16, channels_last=True)
    folded = OnnxGraphModule(data, torch.device("cuda"), "generator.onnx", dtype=torch.float16, channels_last=True,
                             style_input=package.manifest["style_input"]["name"])
    kernels = StylizeKernels()
    graphed = TorchCudaPipeline(folded, kernels, slots=2)
    eye = np.eye(len(package.style_names), dtype=np.float32)
    frame = np.random.default_rng(5).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    outputs = {}
    with torch.inference_mode():
        for index in (0, 0, 1, 2, 2, 0, 1):
            style = eye[index].reshape(1, -1, 1, 1)
            want = TorchCudaPipeline(plain, kernels, use_graphs=False, slots=1).run(frame, "bgr", (360, 640), style, 0.8)
            got = graphed.run(frame, "bgr", (360, 640), style, 0.8)
            diff = np.abs(got.astype(int) - want.astype(int))
            # FP16 products rounded in another order (folded weights against scaled activations)
            assert diff.max() <= 2 and diff.mean() <= 0.05, (index, diff.max(), diff.mean())
            outputs[index] = got
    assert graphed.captures == 2
    assert np.abs(outputs[0].astype(int) - outputs[2].astype(int)).mean() > 1  # the styles differ


def test_the_torch_cuda_backends_run_binds_each_style_once_and_matches_the_cpu():
    """TorchBackend.run on CUDA (the model alone, without the pipeline): the folded FP16 graph against the
    CPU backend's folded FP32 graph, switching styles; the style program runs only when the style changes."""
    import sdk
    from sdk.backends.torch import TorchBackend
    package = sdk.load_package()
    gpu, cpu = TorchBackend("torch-cuda", package), TorchBackend("torch", package)
    binds = []
    real_bind = gpu._graph.bind
    gpu._graph.bind = lambda style: binds.append(style.flatten().tolist()) or real_bind(style)
    image = np.random.default_rng(6).uniform(-1, 1, (1, 3, 72, 128)).astype(np.float32)
    eye = np.eye(len(package.style_names), dtype=np.float32)
    for index in (0, 0, 1, 1, 0):
        style = eye[index].reshape(1, -1, 1, 1)
        got, want = gpu.run(image, style), cpu.run(image, style)
        assert got.shape == want.shape == (1, 3, 72, 128) and got.dtype == np.float32
        diff = np.abs(got - want) * 127.5  # in uint8 steps; FP16 against FP32, as the frame test above allows
        assert diff.mean() < 1.0 and diff.max() <= 12, (index, diff.mean(), diff.max())
    assert len(binds) == 3  # styles 0, 1, 0: not one a frame


@pytest.mark.parametrize("half", [False, True], ids=["f32", "f16"])
def test_temporal_smoothing_rounds_as_the_cpu_path_on_the_gpu(half):
    """As the emulated test of the same name: the GPU's compiler fuses n + d * w into one FMA unless told not to,
    which lands a step below the CPU path in over 1% of these values."""
    from tests.kernels import temporal_case as case
    kernels, ref = StylizeKernels(), CpuReference()
    rng = np.random.default_rng(11)
    styled, frame, previous_input = case.inputs(rng, 1080, 1920, 720, 1280)
    if half:
        styled = styled.astype(np.float16)
    d_styled, d_frame, d_previous_input = (torch.from_numpy(a).cuda() for a in (styled, frame, previous_input))
    outs, previous = {}, None
    for name, smooth in (("blended", False), ("smoothed", True)):
        out = torch.zeros_like(d_frame)
        if smooth:  # the previous output: a set distance from this frame's blended one (temporal_case)
            previous = case.previous_output(outs["blended"], rng)
            d_previous = torch.from_numpy(previous).cuda()
        previous_args = (d_previous.data_ptr(), d_previous.stride(0), d_previous_input.data_ptr(),
                         d_previous_input.stride(0), case.TEMPORAL) if smooth else ()
        kernels.postprocess(d_styled.data_ptr(), 720, 1280, d_frame.data_ptr(), d_frame.stride(0), 1080, 1920, "bgr",
                            case.STRENGTH, out.data_ptr(), out.stride(0), half, *previous_args)
        torch.cuda.synchronize()
        outs[name] = out.cpu().numpy()
    want = ref.postprocess(styled.astype(np.float32), frame, "bgr", case.STRENGTH, previous, case.TEMPORAL, previous_input)
    assert (case.fused(outs["blended"], previous) != want).mean() > 0.01
    assert (outs["smoothed"] != want).mean() <= 1e-4
    assert np.abs(outs["smoothed"].astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), float("inf")])
@pytest.mark.parametrize("half", [False, True], ids=["f32", "f16"])
def test_non_finite_model_output_clamps_as_the_cpu_build_does_on_the_gpu(value, half):
    """FP16 overflow gives inf or NaN. The staged kernel denormalizes with a saturating FMA (NaN gives 0 there)
    and the direct kernel with min/max; both give the CPU build's black or white, exactly."""
    kernels, ref = StylizeKernels(), CpuReference()
    for H, W in ((41, 70), (21, 30)):  # staged (an upscale), then direct (the output wider than the frame)
        frame = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
        styled = np.full((1, 3, 20, 32), value, np.float16 if half else np.float32)
        d_frame, d_styled = torch.from_numpy(frame).cuda(), torch.from_numpy(styled).cuda()
        out = torch.zeros_like(d_frame)
        kernels.postprocess(d_styled.data_ptr(), 20, 32, d_frame.data_ptr(), d_frame.stride(0), H, W, "bgr", 0.7,
                            out.data_ptr(), out.stride(0), half)
        torch.cuda.synchronize()
        np.testing.assert_array_equal(out.cpu().numpy(), ref.postprocess(styled.astype(np.float32), frame, "bgr", 0.7))



def _post_builds():
    from benchmarks.gpu_check import POST_BUILDS
    return [pytest.param(rows, defines, id=f"{rows}rows-{'-'.join(defines) or 'default'}")
            for rows, defines in POST_BUILDS]


@pytest.mark.parametrize("post_rows,defines", _post_builds())
def test_every_build_that_gpu_check_times_matches_the_cpu_reference(post_rows, defines):
    """gpu_check.py times these builds of the post kernels beside the default, whose output its kernel checks hold to
    the CPU reference; this holds each other build to it too. At 2160p a persistent block takes several tiles."""
    from benchmarks.gpu_check import check_post_build
    with StylizeKernels(post_rows=post_rows, defines=defines) as kernels:
        rows = check_post_build(kernels, CpuReference(), np.random.default_rng(7))
    assert all(r["ok"] for r in rows), rows


def _package_with_an_owning_style(tmp_path):
    """The shipped package plus a warm LUT style that owns 8 colour-head channels (so it has lean files)."""
    import subprocess
    import sys

    from trainer import lut
    table = np.clip(lut.lattice(9) * np.array([1.08, 1.0, 0.85], np.float32) + 0.02, 0, 1)
    cube = lut.write_cube(tmp_path / "warm.cube", table, "warm")
    proc = subprocess.run([sys.executable, "-m", "trainer", "add-style", "--lut", str(cube), "--name", "warm",
                           "--iterations", "30", "--own-channels", "8", "--out", str(tmp_path / "pkg")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "pkg"


def test_torch_cuda_serves_old_styles_from_an_added_styles_lean_file(tmp_path):
    """A package whose added style owns colour-head channels: with graphs on, the old styles (and their mixes) run
    the lean file, the shipped package's own, with its pixels; the new style runs the widened file, and the switch
    recaptures that slot's graph (tests/trainer/test_lut.py checks the same routing on the CPU)."""
    import sdk
    package = _package_with_an_owning_style(tmp_path)
    frame = np.random.default_rng(7).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    with sdk.Stylizer(package, backend="torch-cuda") as new, sdk.Stylizer(backend="torch-cuda") as old:
        for style in ("glow", {"vintage": 0.5, "sketch": 0.5}, "glow"):
            diff = np.abs(new(frame, style=style).astype(int) - old(frame, style=style))
            assert diff.max() <= 1, (style, diff.max())  # the same file and kernels; cuDNN may pick other algorithms
        backend = new._backend
        pipeline = backend.pipeline
        assert all(slot is None or slot.model is backend._graphs["lean"] for slot in pipeline._slots)
        captures = pipeline.captures
        warm = new(frame, style="warm")
        assert pipeline.captures == captures + 1 and any(slot.model is backend._graph for slot in pipeline._slots)
        assert np.abs(warm.astype(int) - new(frame, style="glow")).mean() > 1  # the new look differs


def test_tensorrt_serves_old_styles_from_an_engine_of_the_lean_file(tmp_path, monkeypatch):
    """As above, on TensorRT: the old styles and their mixes run an engine built from the lean file (the shipped
    package's own bytes), and only the new style builds one from the widened file (tests/trainer/test_lut.py checks
    the routing on the CPU with each engine replaced by its ONNX file)."""
    import sdk
    status = {b.name: b for b in sdk.list_backends()}["tensorrt"]
    if not status.available:
        pytest.skip(status.reason)
    monkeypatch.setenv("STYLIZER_CACHE", str(tmp_path / "cache"))
    package = _package_with_an_owning_style(tmp_path)
    frame = np.random.default_rng(7).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    with sdk.Stylizer(package, backend="tensorrt") as new, sdk.Stylizer(backend="tensorrt") as old:
        for style in ("glow", {"vintage": 0.5, "sketch": 0.5}):
            diff = np.abs(new(frame, style=style).astype(int) - old(frame, style=style))
            assert diff.max() <= 2, (style, diff.max())  # the same file; two builds may pick other tactics
        backend = new._backend
        assert [lean for _size, lean in backend._runners] == [True]
        warm = new(frame, style="warm")
        assert sorted(lean for _size, lean in backend._runners) == [False, True]
        assert np.abs(warm.astype(int) - new(frame, style="glow")).mean() > 1  # the new look differs
