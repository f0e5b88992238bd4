import numpy as np
import pytest

import sdk
from sdk.backends import load_backend
from tests.conftest import TOLERANCE, one_hot_style, shipped_num_styles


def test_list_backends_reports_reasons():
    statuses = {b.name: b for b in sdk.list_backends()}
    assert set(statuses) == {"onnxruntime", "torch", "torch-cuda", "tensorrt"}
    assert statuses["onnxruntime"].available and "CPUExecutionProvider" in statuses["onnxruntime"].reason
    for b in statuses.values():
        assert b.reason


def test_auto_picks_onnxruntime_without_a_gpu():
    statuses = {b.name: b for b in sdk.list_backends()}
    if statuses["torch-cuda"].available:
        pytest.skip("a CUDA GPU is present: auto picks torch-cuda")
    variant, precision, _ = sdk.load_package().choose_variant("auto")
    shown = precision if variant == precision else f"{variant}, {precision}"
    with sdk.Stylizer() as s:
        assert s.backend == f"onnxruntime on cpu ({shown})"
    with sdk.Stylizer(precision="fp32") as s:
        assert s.backend == "onnxruntime on cpu (fp32)"


@pytest.mark.parametrize("style", range(shipped_num_styles()))
def test_onnxruntime_matches_torch_within_1e3(photos_rgb, style):
    pytest.importorskip("torch")
    import cv2
    package = sdk.load_package()
    ort_backend = load_backend("onnxruntime", package, "fp32")
    torch_backend = load_backend("torch", package)
    image = cv2.resize(photos_rgb["astronaut"], (320, 180))
    x = (image.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None].copy()
    s = one_hot_style(style)
    a, b = ort_backend.run(x, s), torch_backend.run(x, s)
    assert a.shape == b.shape == (1, 3, 180, 320) and a.dtype == b.dtype == np.float32
    assert np.abs(a - b).max() <= TOLERANCE["onnx_vs_torch_fp32"]
    assert a.min() >= -1 and a.max() <= 1


def test_torch_backend_end_to_end_matches_onnxruntime(frame_bgr):
    pytest.importorskip("torch")
    with sdk.Stylizer(backend="torch") as t, sdk.Stylizer(backend="onnxruntime", precision="fp32") as o:
        assert t.backend == "torch on cpu (fp32)"
        diff = np.abs(t(frame_bgr).astype(int) - o(frame_bgr).astype(int)).max()
    assert diff <= TOLERANCE["uint8_lsb"]
