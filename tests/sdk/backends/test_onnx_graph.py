"""The torch backends' ONNX interpreter (sdk/backends/onnx_graph.py) against ONNX Runtime, op by op where its
options matter: Resize's modes and coordinate transforms."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from sdk.backends.onnx_graph import OnnxGraphModule  # noqa: E402
from sdk.errors import ModelLoadError  # noqa: E402


def _resize_graph(**attributes) -> bytes:
    """image -> Resize x2 (constant scales) -> Add 0.5: what a generator's upsampling exports to (opset 18)."""
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("Resize", ["image", "", "scales"], ["up"], **attributes),
             helper.make_node("Add", ["up", "half"], ["y"])]
    graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                              [1, 3, None, None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


@pytest.mark.parametrize("attributes", [
    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
    {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},  # torch's bilinear, align_corners=False
    {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
    {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
], ids=["nearest", "linear half_pixel", "linear pytorch_half_pixel", "linear align_corners"])
def test_resize_matches_onnxruntime(attributes):
    data = _resize_graph(**attributes)
    image = np.random.default_rng(0).uniform(-1, 1, (1, 3, 9, 14)).astype(np.float32)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    got = OnnxGraphModule(data, torch.device("cpu"), "resize")(torch.from_numpy(image))[0].numpy()
    assert got.shape == want.shape == (1, 3, 18, 28)
    assert np.abs(got - want).max() <= 1e-5  # FP32 rounding of the sample positions (align_corners: 1.7e-6)


@pytest.mark.parametrize("attributes, message", [
    ({"mode": "cubic"}, r"resize: Resize mode 'cubic' is not supported \(supported: nearest, linear\)"),
    ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"},
     r"resize: Resize coordinate_transformation_mode 'tf_crop_and_resize' is not supported \(supported: half_pixel, "
     r"pytorch_half_pixel, align_corners\)"),
])
def test_a_resize_it_cannot_run_is_refused_naming_what_it_supports(attributes, message):
    with pytest.raises(ModelLoadError, match=message):
        OnnxGraphModule(_resize_graph(**attributes), torch.device("cpu"), "resize")
