"""Property-based tests (hypothesis) for the frame contract and CPU pre/post-processing:
shape, dtype and range invariants, and round-trip error bounds, on random shapes and values."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from sdk import frames
from sdk.errors import InvalidFrameError

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ORDERS = st.sampled_from(frames.COLOR_ORDERS)


def images(min_side=1, max_side=48, channels=3):
    shape = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side), st.just(channels))
    return shape.flatmap(lambda s: arrays(np.uint8, s))


@SETTINGS
@given(image=images(), size=st.tuples(st.integers(1, 40), st.integers(1, 40)), order=ORDERS)
def test_preprocess_shape_dtype_and_range(image, size, order):
    blob = frames.preprocess(image, size, order)
    assert blob.shape == (1, 3, *size) and blob.dtype == np.float32 and blob.flags.c_contiguous
    assert blob.min() >= -1.0 and blob.max() <= 1.0


@SETTINGS
@given(image=images(), order=ORDERS)
def test_preprocess_at_the_frame_size_is_exact_normalization(image, order):
    blob = frames.preprocess(image, image.shape[:2], order)
    rgb = image[:, :, ::-1] if order == "bgr" else image
    np.testing.assert_allclose(blob[0], rgb.transpose(2, 0, 1) / 127.5 - 1.0, atol=1e-6)


@SETTINGS
@given(image=images(), order=ORDERS)
def test_pre_then_post_round_trip_is_within_one_lsb(image, order):
    blob = frames.preprocess(image, image.shape[:2], order)
    back = frames.postprocess(blob, image, 1.0, order)
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - image.astype(int)).max() <= 1


@SETTINGS
@given(data=st.data(), order=ORDERS, strength=st.floats(0.0, 1.0))
def test_post_output_is_uint8_at_the_frame_size_and_blend_lies_between(data, order, strength):
    color = data.draw(images())
    h, w = data.draw(st.tuples(st.integers(1, 40), st.integers(1, 40)))
    # Model outputs outside [-1, 1], and NaN/inf from a broken model, must still give valid uint8 pixels.
    values = st.floats(-3, 3, width=32) | st.sampled_from([np.nan, np.inf, -np.inf])
    nchw = data.draw(arrays(np.float32, (1, 3, h, w), elements=values))
    full = frames.postprocess(nchw, color, 1.0, order)
    out = frames.postprocess(nchw, color, strength, order)
    assert out.shape == color.shape and out.dtype == np.uint8
    lo = np.minimum(full, color).astype(int) - 1
    hi = np.maximum(full, color).astype(int) + 1
    assert ((out >= lo) & (out <= hi)).all()


@SETTINGS
@given(h=st.integers(1, 8000), w=st.integers(1, 8000), max_side=st.sampled_from([256, 640, 1280]),
       min_side=st.sampled_from([16, 32]))
def test_working_size_is_on_the_stride_and_within_bounds(h, w, max_side, min_side):
    stride = 4
    wh, ww = frames.working_size(h, w, stride, max_side, min_side)
    assert wh % stride == 0 and ww % stride == 0
    assert min_side <= wh <= max_side and min_side <= ww <= max_side
    scale = min(1.0, max_side / max(h, w))
    if min(h, w) * scale >= min_side:  # aspect ratio kept: each side within half a stride of the exact scale
        assert abs(wh - h * scale) <= stride / 2 and abs(ww - w * scale) <= stride / 2
    if h % stride == 0 and w % stride == 0 and max(h, w) <= max_side and min(h, w) >= min_side:
        assert (wh, ww) == (h, w)  # runs at the frame's own size


ANY_ARRAY = arrays(st.sampled_from([np.uint8, np.int8, np.uint16, np.float32, np.float64, np.bool_]),
                   array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))


@SETTINGS
@given(array=ANY_ARRAY)
def test_check_frame_accepts_exactly_the_contract_and_refuses_the_rest_with_its_error(array):
    accepted = (array.dtype == np.uint8 and array.size > 0 and
                (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))))
    if accepted:
        info = frames.check_frame(array)
        assert (info.height, info.width) == array.shape[:2]
    else:
        with pytest.raises(InvalidFrameError):
            frames.check_frame(array)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(["gray2", "gray3", "color", "alpha"]), strength=st.floats(0.0, 1.0))
def test_stylizer_keeps_shape_dtype_gray_and_alpha(stylizer, data, kind, strength):
    h, w = data.draw(st.integers(1, 70)), data.draw(st.integers(1, 70))
    shape = {"gray2": (h, w), "gray3": (h, w, 1), "color": (h, w, 3), "alpha": (h, w, 4)}[kind]
    frame = data.draw(arrays(np.uint8, shape))
    out = stylizer(frame, strength=strength)
    assert out.shape == frame.shape and out.dtype == np.uint8
    if kind == "alpha":
        np.testing.assert_array_equal(out[:, :, 3], frame[:, :, 3])
    if strength == 0.0:
        np.testing.assert_array_equal(out, frame)
