"""OnnxGraphModule with a style input: the style program, and style scales and shifts folded into
the Conv before them (sdk/backends/torch.py)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import sdk  # noqa: E402
from sdk.backends.onnx_graph import OnnxGraphModule  # noqa: E402
from sdk.errors import ModelLoadError  # noqa: E402

# The shipped package's four styles: one-hots, a mix, and no style at all.
STYLES = ([1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0.2, 0.5, 0.1, 0.2], [0, 0, 0, 0])
NUM_STYLES = len(STYLES[0])


@pytest.fixture(scope="module")
def modules():
    package = sdk.load_package()
    data, name = package.file("fp32").read_bytes(), package.manifest["style_input"]["name"]
    return (OnnxGraphModule(data, torch.device("cpu"), "g"),
            OnnxGraphModule(data, torch.device("cpu"), "g", style_input=name))


def test_the_default_generator_folds_every_style_scale_and_shift(modules):
    plain, folded = modules
    assert len(sdk.load_package().styles) == NUM_STYLES
    assert len(plain.nodes) == 166  # the half-resolution colour heads add one nearest Resize, the ink path 16
    # 23 Conv -> Mul (-> Add) chains become 23 Convs: 20 scale-and-shift pairs, the colour head's pixel conv
    # (scale and shift), its context conv (scale only: its Add sums two images) and the ink's smoothing conv
    # (scale only: the style's ink strength); the style branch (65 nodes) leaves the image program.
    assert len(folded.folds) == 23
    assert sum(1 for f in folded.folds if f[2] and f[3]) == 21
    assert [f[0] for f in folded.folds if not f[3]] == ["ink_smooth.weight", "colour_context.weight"]
    assert len(folded.style_nodes) == 65
    # The ink path multiplies image values by image values (its map by the border mask, the RGB branch by its
    # ink): those Muls stay.
    assert sorted({n[0] for n in folded.image_nodes}) == ["Add", "Clip", "Conv", "Mul", "Relu", "Resize"]
    assert len(folded.image_nodes) == 57
    assert len(folded.bound_names) == 46  # a weight and a bias per fold, nothing else


@pytest.mark.parametrize("style", STYLES)
def test_folded_output_equals_the_graph_as_written(modules, style):
    plain, folded = modules
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (1, 3, 72, 128)).astype(np.float32))
    s = torch.tensor(style, dtype=torch.float32).reshape(1, NUM_STYLES, 1, 1)
    want = plain(x, s)[0]
    got = folded(x, s)[0]
    assert got.shape == want.shape == (1, 3, 72, 128)
    assert float((got - want).abs().max()) <= 1e-5  # FP32 rounding of the folded products
    assert float(want.std()) > 0.05  # a real image, not a constant


def test_a_bound_style_is_what_the_image_program_runs_with(modules):
    _, folded = modules
    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (1, 3, 40, 64)).astype(np.float32))
    a, b = (torch.tensor(s, dtype=torch.float32).reshape(1, NUM_STYLES, 1, 1) for s in (STYLES[0], STYLES[2]))
    bound_a = folded.bind(a)
    assert sorted(bound_a) == folded.bound_names
    assert torch.equal(folded.run_bound(x, bound_a)[0], folded(x, a)[0])
    assert float((folded.run_bound(x, folded.bind(b))[0] - folded(x, a)[0]).abs().max()) > 0.05


def _tiny_graph(shared_conv_output: bool) -> bytes:
    """image -> Conv -> Mul(style scale) -> Add(style shift); optionally the Conv's output also feeds
    the graph's second output, which forbids the fold (the unscaled value is needed)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(size=(4, 2, 1, 1)).astype(np.float32), "ws"),
             numpy_helper.from_array(rng.normal(size=(4, 2, 1, 1)).astype(np.float32), "wt")]
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["style", "ws"], ["scale"]),
             helper.make_node("Conv", ["style", "wt"], ["shift"]),
             helper.make_node("Mul", ["c", "scale"], ["m"]),
             helper.make_node("Add", ["m", "shift"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if shared_conv_output:
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 2, 8, 8]),
                                              helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 2, 1, 1])],
                              outputs, inits)
    return helper.make_model(graph).SerializeToString()


@pytest.mark.parametrize("shared", [False, True], ids=["folds", "conv output used twice"])
def test_a_conv_whose_output_is_used_elsewhere_is_not_folded(shared):
    data = _tiny_graph(shared)
    plain = OnnxGraphModule(data, torch.device("cpu"), "tiny")
    folded = OnnxGraphModule(data, torch.device("cpu"), "tiny", style_input="style")
    assert len(folded.folds) == (0 if shared else 1)
    rng = torch.Generator().manual_seed(5)
    x, s = torch.randn(1, 2, 8, 8, generator=rng), torch.randn(1, 2, 1, 1, generator=rng)
    for want, got in zip(plain(x, s), folded(x, s), strict=True):
        # FP32 rounding of the folded products, relative to the outputs' size (values up to about 20 here)
        assert float((want - got).abs().max()) <= 1e-6 * max(1.0, float(want.abs().max()))


def test_an_unknown_style_input_is_refused_with_the_inputs_named():
    with pytest.raises(ModelLoadError, match=r"tiny: no graph input 'styles' \(inputs \['image', 'style'\]\)"):
        OnnxGraphModule(_tiny_graph(False), torch.device("cpu"), "tiny", style_input="styles")


def test_the_cpu_torch_backend_binds_each_style_once_and_matches_the_graph_as_written(modules):
    """backend="torch" on the CPU runs the folded graph; its style program runs when the style changes."""
    from sdk.backends.torch import TorchBackend
    plain, _ = modules
    backend = TorchBackend("torch", sdk.load_package())
    binds = []
    real_bind = backend._graph.bind
    backend._graph.bind = lambda style: binds.append(style.flatten().tolist()) or real_bind(style)
    image = np.random.default_rng(4).uniform(-1, 1, (1, 3, 40, 64)).astype(np.float32)
    for style in (STYLES[0], STYLES[0], STYLES[3], STYLES[3], STYLES[0]):
        s = np.array(style, np.float32).reshape(1, NUM_STYLES, 1, 1)
        got = backend.run(image, s)
        want = plain(torch.from_numpy(image), torch.from_numpy(s))[0].numpy()
        assert got.shape == (1, 3, 40, 64) and got.dtype == np.float32
        assert float(np.abs(got - want).max()) <= 1e-5
    assert [np.round(b, 6).tolist() for b in binds] == [STYLES[0], STYLES[3], STYLES[0]]
