"""Bad input at the SDK boundary: a typed error from sdk.errors naming what was given and what was
expected, and the same process then stylizes a valid frame exactly as before."""
import numpy as np
import pytest

import sdk
from sdk import errors
from sdk.errors import InvalidArgumentError, InvalidFrameError, StylizerClosedError, UnknownStyleError


class FakeDeviceArray:
    __cuda_array_interface__ = {"shape": (4, 4, 3), "typestr": "|u1", "data": (0, False), "version": 3}


def pil_image():
    from PIL import Image
    return Image.new("RGB", (8, 8))


def torch_tensor():
    import torch
    return torch.zeros(8, 8, 3, dtype=torch.uint8)


def read_only_out(frame):
    out = np.empty_like(frame)
    out.flags.writeable = False
    return out


def frame_case(frame, given, expected):
    """A bad frame: a factory (so big arrays are made only when the case runs) and the message's parts."""
    return (lambda s, good: s(frame() if callable(frame) else frame), InvalidFrameError, given, expected)


CASES = {
    # wrong types
    "none": frame_case(None, "NoneType", "numpy.ndarray"),
    "list": frame_case([[1, 2, 3]], "list", "numpy.ndarray"),
    "str": frame_case("frame.png", "str", "numpy.ndarray"),
    "bytes": frame_case(b"\x00" * 12, "bytes", "numpy.ndarray"),
    "int": frame_case(5, "int", "numpy.ndarray"),
    "pil": frame_case(pil_image, "Image", "np.asarray(image)"),
    "torch": frame_case(torch_tensor, "Tensor", ".cpu().numpy()"),
    "device_array": frame_case(FakeDeviceArray(), "FakeDeviceArray", "CUDA backend"),
    # dtypes (NaN/inf only exist in float frames, refused as float: the scale is the caller's to say)
    "float32": frame_case(lambda: np.zeros((8, 8, 3), np.float32), "float32", "uint8"),
    "float64_nan": frame_case(lambda: np.full((8, 8, 3), np.nan), "float64", "(frame * 255)"),
    "float32_inf": frame_case(lambda: np.full((8, 8, 3), np.inf, np.float32), "float32", "uint8"),
    "float16": frame_case(lambda: np.zeros((8, 8, 3), np.float16), "float16", "uint8"),
    "uint16": frame_case(lambda: np.zeros((8, 8, 3), np.uint16), "uint16", "uint8"),
    "int8": frame_case(lambda: np.zeros((8, 8, 3), np.int8), "int8", "uint8"),
    "int32": frame_case(lambda: np.zeros((8, 8, 3), np.int32), "int32", "uint8"),
    "bool": frame_case(lambda: np.zeros((8, 8, 3), bool), "bool", "uint8"),
    "complex": frame_case(lambda: np.zeros((8, 8, 3), np.complex64), "complex64", "uint8"),
    "object": frame_case(lambda: np.zeros((8, 8, 3), object), "object", "uint8"),
    "structured": frame_case(lambda: np.zeros((8, 8, 3), [("v", "u1")]), "[('v', 'u1')]", "uint8"),
    # ranks and channel counts
    "rank0": frame_case(lambda: np.array(7, np.uint8), "()", "HxWx3"),
    "rank1": frame_case(lambda: np.zeros(8, np.uint8), "(8,)", "HxWx3"),
    "rank4": frame_case(lambda: np.zeros((2, 8, 8, 3), np.uint8), "(2, 8, 8, 3)", "HxWx3"),
    "2_channels": frame_case(lambda: np.zeros((8, 8, 2), np.uint8), "(8, 8, 2)", "HxWx4"),
    "5_channels": frame_case(lambda: np.zeros((8, 8, 5), np.uint8), "(8, 8, 5)", "HxWx4"),
    # sizes
    "zero_rows": frame_case(lambda: np.zeros((0, 8, 3), np.uint8), "(0, 8, 3)", "at least 1x1"),
    "zero_cols": frame_case(lambda: np.zeros((8, 0, 3), np.uint8), "(8, 0, 3)", "at least 1x1"),
    "zero_gray": frame_case(lambda: np.zeros((0, 0), np.uint8), "(0, 0)", "at least 1x1"),
    "too_tall": frame_case(lambda: np.zeros((7681, 10, 3), np.uint8), "10x7681", "7680x4320"),
    "too_big": frame_case(lambda: np.zeros((4321, 4330, 3), np.uint8), "4330x4321", "7680x4320"),
    "too_wide": frame_case(lambda: np.zeros((10, 7681, 3), np.uint8), "7681x10", "7680x4320"),
    # per-call arguments
    "strength_negative": (lambda s, good: s(good, strength=-0.1), InvalidArgumentError, "-0.1", "from 0 to 1"),
    "strength_above_1": (lambda s, good: s(good, strength=1.5), InvalidArgumentError, "1.5", "from 0 to 1"),
    "strength_nan": (lambda s, good: s(good, strength=float("nan")), InvalidArgumentError, "nan", "from 0 to 1"),
    "strength_str": (lambda s, good: s(good, strength="0.5"), InvalidArgumentError, "str '0.5'", "a number"),
    "strength_list": (lambda s, good: s(good, strength=[0.5]), InvalidArgumentError, "list [0.5]", "a number"),
    "style_typo": (lambda s, good: s(good, style="glwo"), UnknownStyleError, "'glwo'", "Did you mean 'glow'"),
    "style_index": (lambda s, good: s(good, style=7), UnknownStyleError, "index 7", "(0..3)"),
    "style_float": (lambda s, good: s(good, style=1.5), UnknownStyleError, "float 1.5", "a style name"),
    "mix_zero": (lambda s, good: s(good, style={"glow": 0.0}), UnknownStyleError, "{'glow': 0.0}", "positive weight"),
    "mix_text_weight": (lambda s, good: s(good, style={"glow": "a"}), UnknownStyleError, "'a'", "finite number"),
    "mix_negative": (lambda s, good: s(good, style={"glow": -1}), UnknownStyleError, "-1", ">= 0"),
    "mix_unknown": (lambda s, good: s(good, style={"neon": 1}), UnknownStyleError, "'neon'", "Available"),
    "out_shape": (lambda s, good: s(good, out=np.zeros((10, 10, 3), np.uint8)), InvalidFrameError,
                  "(10, 10, 3)", "frame's shape (360, 640, 3)"),
    "out_dtype": (lambda s, good: s(good, out=np.zeros(good.shape, np.float32)), InvalidFrameError,
                  "float32", "uint8 array"),
    "out_read_only": (lambda s, good: s(good, out=read_only_out(good)), InvalidFrameError, "read-only", "writeable"),
    "out_list": (lambda s, good: s(good, out=[]), InvalidFrameError, "list", "uint8 array"),
    "color_order": (lambda s, good: sdk.stylize_frame(good, color_order="hsv"), InvalidArgumentError,
                    "'hsv'", "('bgr', 'rgb')"),
}


@pytest.fixture(scope="module")
def reference(stylizer, frame_bgr):
    return stylizer(frame_bgr)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_typed_error_and_the_process_keeps_working(stylizer, frame_bgr, reference, name):
    call, error_type, given, expected = CASES[name]
    with pytest.raises(errors.StylizerError) as info:
        call(stylizer, frame_bgr)
    assert type(info.value) is error_type
    message = str(info.value)
    assert given in message, f"message does not name what was given ({given!r}): {message}"
    assert expected in message, f"message does not say what is expected ({expected!r}): {message}"
    # Nothing is lost: the same stylizer gives the same result on a valid frame right after.
    np.testing.assert_array_equal(stylizer(frame_bgr), reference)


def test_there_are_at_least_30_bad_input_cases():
    assert len(CASES) + len(CONSTRUCTOR_CASES) >= 30


CONSTRUCTOR_CASES = {
    "strength": ({"strength": 2}, "strength is 2", "from 0 to 1"),
    "color_order": ({"color_order": "BGR "}, "'BGR '", "('bgr', 'rgb')"),
    "max_side_small": ({"max_side": 2}, "max_side is 2", "at least 16"),
    "max_side_float": ({"max_side": 640.5}, "max_side is 640.5", "an int"),
    "max_frame_zero": ({"max_frame": (0, 100)}, "(0, 100)", "positive ints"),
    "max_frame_scalar": ({"max_frame": 4096}, "4096", "(width, height)"),
    "precision": ({"precision": "int4"}, "'int4'", "'fp16'"),
    "temporal": ({"temporal": 1.0}, "temporal is 1.0", "0 (off) to 0.95"),
}


@pytest.mark.parametrize("name", list(CONSTRUCTOR_CASES))
def test_bad_constructor_argument(name):
    kwargs, given, expected = CONSTRUCTOR_CASES[name]
    with pytest.raises(InvalidArgumentError) as info:
        sdk.Stylizer(backend="onnxruntime", **kwargs)
    assert given in str(info.value) and expected in str(info.value), str(info.value)


def test_unknown_default_style_at_construction():
    with pytest.raises(UnknownStyleError, match="Unknown style 'Glow'. Did you mean 'glow'"):
        sdk.Stylizer(style="Glow", backend="onnxruntime")


def test_closed_stylizer_says_so(frame_bgr):
    s = sdk.Stylizer(backend="onnxruntime")
    s.close()
    with pytest.raises(StylizerClosedError, match="closed; create a new one"):
        s(frame_bgr)


@pytest.mark.parametrize("make", [
    lambda f: np.asfortranarray(f),                                     # column-major
    lambda f: np.broadcast_to(f[:1, :1], f.shape),                      # zero strides, read-only
    lambda f: f[::-1, ::-1],                                            # negative strides
    lambda f: np.lib.stride_tricks.as_strided(f, f.shape, f.strides),   # a view without an owner
], ids=["fortran", "broadcast", "negative_strides", "as_strided"])
def test_unusual_memory_layouts_work_like_a_contiguous_copy(stylizer, frame_bgr, make):
    frame = make(frame_bgr)
    np.testing.assert_array_equal(stylizer(frame), stylizer(np.ascontiguousarray(frame)))


@pytest.mark.parametrize("shape,working", [
    ((1, 7680, 3), (16, 1280)),      # a strip: stretched to min_side x max_side, not 16x122880
    ((7680, 1, 3), (1280, 16)),
    ((1, 1, 3), (16, 16)),
    ((4320, 7680, 3), (720, 1280)),  # 8K: the largest default frame
])
def test_extreme_sizes_run_at_a_bounded_working_size(stylizer, shape, working):
    from sdk.frames import working_size
    pkg = stylizer.package
    assert working_size(shape[0], shape[1], pkg.stride, pkg.max_side, pkg.min_side) == working
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = stylizer(frame)
    assert out.shape == shape and out.dtype == np.uint8
