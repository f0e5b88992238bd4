"""The frame contract: shapes, dtypes, channel orders, sizes, strength, out=, and the CPU pre/post math."""
import cv2
import numpy as np
import pytest

from sdk import frames
from tests.conftest import TOLERANCE, lsb_diff


@pytest.mark.parametrize("shape", [(360, 640, 3), (129, 237, 3), (640, 360, 3), (1, 1, 3), (7, 5, 3),
                                   (1080, 1920, 3), (50, 60), (50, 60, 1), (50, 60, 4)])
def test_output_mirrors_input_shape_and_dtype(stylizer, shape):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    before = frame.copy()
    out = stylizer(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(frame, before), "the caller's frame was written to"


def test_alpha_passes_through_untouched(stylizer, frame_bgr):
    alpha = np.random.default_rng(2).integers(0, 256, frame_bgr.shape[:2], dtype=np.uint8)
    bgra = np.dstack([frame_bgr, alpha])
    out = stylizer(bgra)
    assert np.array_equal(out[:, :, 3], alpha)
    assert lsb_diff(out[:, :, :3], stylizer(frame_bgr)) == 0


def test_grayscale_is_stylized_as_three_equal_channels(stylizer, frame_bgr):
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    out = stylizer(gray, style="glow")
    expected = cv2.cvtColor(stylizer(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), style="glow"), cv2.COLOR_BGR2GRAY)
    assert out.shape == gray.shape and lsb_diff(out, expected) == 0


def test_rgb_order_matches_bgr_order(frame_bgr):
    import sdk
    with sdk.Stylizer(backend="onnxruntime", color_order="rgb") as rgb_stylizer, \
            sdk.Stylizer(backend="onnxruntime") as bgr_stylizer:
        out_rgb = rgb_stylizer(frame_bgr[:, :, ::-1].copy())
        out_bgr = bgr_stylizer(frame_bgr)
    assert lsb_diff(out_rgb[:, :, ::-1], out_bgr) == 0


def test_stylize_frame_color_order_option(frame_bgr):
    import sdk
    a = sdk.stylize_frame(frame_bgr, style="vintage")
    b = sdk.stylize_frame(np.ascontiguousarray(frame_bgr[:, :, ::-1]), style="vintage", color_order="rgb")
    assert lsb_diff(a, b[:, :, ::-1]) == 0


def test_strength_zero_returns_input_and_half_blends(stylizer, frame_bgr):
    assert np.array_equal(stylizer(frame_bgr, strength=0.0), frame_bgr)
    full = stylizer(frame_bgr, strength=1.0).astype(np.float32)
    half = stylizer(frame_bgr, strength=0.5).astype(np.float32)
    expected = 0.5 * frame_bgr.astype(np.float32) + 0.5 * full
    assert np.abs(half - expected).max() <= TOLERANCE["uint8_lsb"]


def test_non_contiguous_negative_stride_and_read_only_frames_work(stylizer, frame_bgr):
    reference = stylizer(frame_bgr)
    flipped = frame_bgr[::-1]
    # A vertical flip is a different image, so compare with stylizing an explicit copy of it.
    assert lsb_diff(stylizer(flipped), stylizer(flipped.copy())) == 0
    read_only = frame_bgr.copy()
    read_only.flags.writeable = False
    assert lsb_diff(stylizer(read_only), reference) == 0
    wide = np.zeros((360, 1280, 3), np.uint8)
    wide[:, ::2] = frame_bgr
    assert lsb_diff(stylizer(wide[:, ::2]), reference) == 0


def test_out_parameter_is_filled_and_returned(stylizer, frame_bgr):
    out = np.zeros_like(frame_bgr)
    result = stylizer(frame_bgr, out=out)
    assert result is out and lsb_diff(out, stylizer(frame_bgr)) == 0


@pytest.mark.parametrize("hw,max_side,expected", [
    ((360, 640), 1280, (360, 640)),      # runs as is
    ((720, 1280), 1280, (720, 1280)),
    ((1080, 1920), 1280, (720, 1280)),   # downscaled, aspect kept
    ((129, 237), 1280, (128, 236)),      # snapped to the stride
    ((1, 1), 1280, (16, 16)),            # tiny: up to min_side
    ((1920, 1080), 1280, (1280, 720)),   # portrait
])
def test_working_size_policy(hw, max_side, expected):
    assert frames.working_size(*hw, stride=4, max_side=max_side, min_side=16) == expected


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_preprocess_matches_numpy_reference(order):
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (129, 237, 3), dtype=np.uint8)
    blob = frames.preprocess(frame[:128, :236], (128, 236), order)
    rgb = frame[:128, :236, ::-1] if order == "bgr" else frame[:128, :236]
    expected = rgb.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1
    assert blob.shape == (1, 3, 128, 236) and blob.dtype == np.float32
    assert np.abs(blob - expected).max() < 1e-6


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_postprocess_matches_numpy_reference_within_one_lsb(order):
    rng = np.random.default_rng(4)
    nchw = rng.uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    color = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    out = frames.postprocess(nchw, color, 0.7, order)
    rgb = (nchw[0].transpose(1, 2, 0) + 1) * 127.5
    styled = rgb[:, :, ::-1] if order == "bgr" else rgb
    expected = np.clip(np.round(0.3 * color + 0.7 * np.round(styled)), 0, 255)
    assert out.shape == color.shape and out.dtype == np.uint8
    assert np.abs(out.astype(np.float64) - expected).max() <= TOLERANCE["uint8_lsb"]


class _Cai:
    def __init__(self, **interface):
        self.__cuda_array_interface__ = {"shape": (720, 1280, 3), "typestr": "|u1", "data": (0x7F0000000000, False),
                                         "version": 3, **interface}


def test_device_frame_contract_reads_the_cuda_array_interface():
    from sdk.frames import check_device_frame
    info, device = check_device_frame(_Cai(strides=(4096, 4, 1), shape=(720, 1000, 4), stream=2))
    assert (info.height, info.width, info.kind) == (720, 1000, "alpha")
    assert (device.ptr, device.pitch, device.shape, device.stream) == (0x7F0000000000, 4096, (720, 1000, 4), 2)
    _, dense = check_device_frame(_Cai(version=2, stream=5))  # v2 has no stream: nothing to wait for
    assert dense.pitch == 3840 and dense.stream is None and not dense.readonly


@pytest.mark.parametrize("interface,message", [
    ({"typestr": "<f4"}, r"typestr '<f4', expected '\|u1' \(uint8\)"),
    ({"shape": (720, 1280)}, r"shape \(720, 1280\), expected HxWx3"),
    ({"shape": (0, 1280, 3)}, "an empty frame"),
    ({"shape": (9000, 1280, 3)}, "larger than the limit 7680x4320"),
    ({"strides": (3840, 1, 1280)}, r"strides \(3840, 1, 1280\); expected \(3840 or more, 3, 1\)"),
    ({"strides": (3000, 3, 1)}, r"strides \(3000, 3, 1\)"),
    ({"mask": object()}, "masked array"),
    ({"data": (0, False)}, "null data pointer"),
    ({"stream": 0}, "names stream 0"),
])
def test_bad_device_frames_get_a_typed_error_naming_the_problem(interface, message):
    from sdk.errors import InvalidFrameError
    from sdk.frames import check_device_frame
    with pytest.raises(InvalidFrameError, match=message):
        check_device_frame(_Cai(**interface))
