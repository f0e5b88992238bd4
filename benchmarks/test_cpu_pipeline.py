"""stylize_frame on the CPU, end to end and per stage, with baselines: a user's alternatives and our
own generic (not style-specialized) session.

Groups are per frame size; within one group every row ran in the same session, so the
ratios printed by ``benchmarks/report.py`` compare like with like.
"""
import cv2
import pytest

import sdk
from sdk import frames
from benchmarks.conftest import run


@pytest.fixture(scope="module")
def ort_stylizer():
    with sdk.Stylizer(backend="onnxruntime", style="glow") as s:
        yield s


@pytest.fixture(scope="module")
def torch_stylizer():
    pytest.importorskip("torch")
    with sdk.Stylizer(backend="torch", style="glow") as s:
        yield s


def test_end_to_end_onnxruntime(benchmark, frame, ort_stylizer):
    size, image = frame
    benchmark.group = size
    out = run(benchmark, lambda: ort_stylizer(image))
    assert out.shape == image.shape


def test_stage_pre(benchmark, frame, ort_stylizer):
    size, image = frame
    benchmark.group = size
    hw = frames.working_size(*image.shape[:2], 4, ort_stylizer.max_side, 16)
    run(benchmark, lambda: frames.preprocess(image, hw, "bgr"), rounds=100)


def test_stage_infer_onnxruntime(benchmark, frame, ort_stylizer):
    size, image = frame
    benchmark.group = size
    hw = frames.working_size(*image.shape[:2], 4, ort_stylizer.max_side, 16)
    blob = frames.preprocess(image, hw, "bgr")
    style = ort_stylizer.style_vector("glow")
    run(benchmark, lambda: ort_stylizer._backend.run(blob, style))


def test_stage_post(benchmark, frame, ort_stylizer):
    size, image = frame
    benchmark.group = size
    hw = frames.working_size(*image.shape[:2], 4, ort_stylizer.max_side, 16)
    styled = ort_stylizer._backend.run(frames.preprocess(image, hw, "bgr"), ort_stylizer.style_vector("glow"))
    run(benchmark, lambda: frames.postprocess(styled, image, 1.0, "bgr"), rounds=100)


def test_fp32_model(benchmark, frame):
    """The unpruned FP32 model end to end (what the auto variant is compared with)."""
    size, image = frame
    benchmark.group = size
    with sdk.Stylizer(backend="onnxruntime", style="glow", precision="fp32") as s:
        run(benchmark, lambda: s(image))


def test_baseline_generic_session(benchmark, frame):
    """Our own earlier path: the FP32 model in one session with the style vector as an input."""
    size, image = frame
    benchmark.group = size
    with sdk.Stylizer(backend="onnxruntime", style="glow", precision="fp32") as generic:
        generic._backend.max_specialized = 0
        run(benchmark, lambda: generic(image))


@pytest.fixture(scope="module")
def torch_as_written(torch_stylizer):
    """A user's own eager PyTorch port: the graph as written (no style folding), with the same pre and
    post steps and working size as stylize_frame."""
    torch = pytest.importorskip("torch")
    from sdk.backends.onnx_graph import OnnxGraphModule
    graph = OnnxGraphModule(sdk.load_package().file("fp32").read_bytes(), torch.device("cpu"), "generator.onnx")
    style = torch.from_numpy(torch_stylizer.style_vector("glow"))

    def stylize(image):
        hw = frames.working_size(*image.shape[:2], 4, torch_stylizer.max_side, 16)
        with torch.inference_mode():
            styled = graph(torch.from_numpy(frames.preprocess(image, hw, "bgr")), style)[0].numpy()
        return frames.postprocess(styled, image, torch_stylizer.strength, "bgr")
    return stylize


def test_torch_backend(benchmark, frame, torch_stylizer):
    size, image = frame
    benchmark.group = size
    run(benchmark, lambda: torch_stylizer(image), rounds=15)


def test_baseline_torch_eager(benchmark, frame, torch_as_written):
    size, image = frame
    benchmark.group = size
    run(benchmark, lambda: torch_as_written(image), rounds=15)


def test_baseline_cv2_stylization(benchmark, frame):
    size, image = frame
    benchmark.group = size
    run(benchmark, lambda: cv2.stylization(image, sigma_s=60, sigma_r=0.45), rounds=10)
