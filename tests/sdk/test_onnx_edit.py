"""sdk/onnx_edit.py: a graph input turned into a constant, checked against the onnx package and ONNX Runtime."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import numpy_helper

import sdk
from sdk import onnx_edit
from sdk.backends.onnxruntime import OnnxRuntimeBackend
from sdk.errors import ModelLoadError

MIXES = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0.5, 0.25, 0.125, 0.125]]  # over the shipped 4 styles


@pytest.fixture(scope="module")
def package():
    return sdk.load_package()


@pytest.fixture(scope="module")
def image(frame_bgr):
    from sdk import frames
    return frames.preprocess(frame_bgr, (360, 640), "bgr")


@given(st.integers(0, 2**63 - 1))
def test_varint_round_trip(value):
    encoded = onnx_edit._varint(value)
    assert onnx_edit._read_varint(encoded + b"\x01", 0) == (value, len(encoded))


@pytest.mark.parametrize("mix", MIXES)
def test_specialized_model_is_valid_onnx_and_matches_the_generic_one(package, image, mix):
    model = package.file().read_bytes()
    style = np.asarray(mix, np.float32).reshape(1, -1, 1, 1)
    edited = onnx.load_from_string(onnx_edit.input_to_constant(model, "style", style))
    onnx.checker.check_model(edited)
    assert [i.name for i in edited.graph.input] == ["image"]
    constant = {t.name: numpy_helper.to_array(t) for t in edited.graph.initializer}["style"]
    np.testing.assert_array_equal(constant, style)
    generic = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    special = ort.InferenceSession(edited.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = generic.run(None, {"image": image, "style": style})[0]
    got = special.run(None, {"image": image})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_specialized_graph_has_no_per_style_multiplies_left(package):
    """What makes it faster: ORT folds the style path and fuses the scale/shift into the convs."""
    model = package.file().read_bytes()
    style = np.asarray(MIXES[0], np.float32).reshape(1, -1, 1, 1)

    def ops_after_optimization(blob, path):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(path)
        ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
        return [n.op_type for n in onnx.load(str(path)).graph.node]

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        generic = ops_after_optimization(model, f"{tmp}/g.onnx")
        special = ops_after_optimization(onnx_edit.input_to_constant(model, "style", style), f"{tmp}/s.onnx")
    # Left: the ink path's two products of image values (its map by the frame's border mask, the RGB branch by
    # its ink); the style's ink strength is fused into the smoothing conv like every other per-style scale.
    assert generic.count("Mul") >= 20 and special.count("Mul") == 2
    # The 24 per-pixel convs and the ink path's 6; the style-path 1x1 convs were folded away.
    assert special.count("Conv") == 30


def test_missing_input_and_garbage_are_model_load_errors(package):
    model = package.file().read_bytes()
    with pytest.raises(ModelLoadError, match="no input named 'palette'"):
        onnx_edit.input_to_constant(model, "palette", np.zeros(3, np.float32), where="generator.onnx")
    with pytest.raises(ModelLoadError, match="x.onnx: not a readable ONNX protobuf"):
        onnx_edit.input_to_constant(b"\x0a\xff\xff\xff", "style", np.zeros(3, np.float32), where="x.onnx")


def test_backend_specializes_a_bounded_number_of_style_vectors(package, image):
    backend = OnnxRuntimeBackend(package, "fp32", max_specialized=2)
    generic = ort.InferenceSession(package.file().read_bytes(), providers=["CPUExecutionProvider"])
    for mix in MIXES:
        style = np.asarray(mix, np.float32).reshape(1, -1, 1, 1)
        out = backend.run(image, style)
        np.testing.assert_allclose(out, generic.run(None, {"image": image, "style": style})[0], atol=1e-5)
    assert len(backend._specialized) == 2  # the first two vectors; the rest ran on the generic session
    first = np.asarray(MIXES[0], np.float32).reshape(1, -1, 1, 1)
    assert backend._session_for(first) is backend._session_for(first.copy())
    assert backend._session_for(np.asarray(MIXES[3], np.float32).reshape(1, -1, 1, 1)) is None
