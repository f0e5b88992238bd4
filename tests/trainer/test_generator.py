
import numpy as np
import pytest
import torch

from trainer.models.generator import Generator, GeneratorConfig, count_macs, count_parameters, style_vector


@pytest.fixture(params=[(0, False), (16, False), (16, True)], ids=["no-colour-head", "colour-head", "heads-at-half"])
def trained_like(request):
    """A generator whose BatchNorm statistics and style affines are not the identity."""
    torch.manual_seed(0)
    colour_channels, heads_at_half = request.param
    g = Generator(GeneratorConfig(num_styles=3, colour_channels=colour_channels, heads_at_half=heads_at_half))
    for p in g.parameters():
        p.data += 0.05 * torch.randn_like(p)
    g.train()
    with torch.no_grad():
        for _ in range(3):
            g(torch.rand(4, 3, 32, 48) * 2 - 1, style_vector(1, 3, 4))
    return g.eval()


def test_deploy_folds_batchnorm_exactly(trained_like):
    x = torch.rand(2, 3, 40, 56) * 2 - 1
    s = style_vector([0.3, 0.7, 0.0], 3, 2)
    deploy = trained_like.deploy()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in deploy.modules())
    with torch.no_grad():
        assert (trained_like(x, s) - deploy(x, s)).abs().max() < 1e-5


@pytest.mark.parametrize("colour_channels", [0, 16])
def test_output_shape_range_and_identity_at_init(colour_channels):
    g = Generator(GeneratorConfig(colour_channels=colour_channels)).eval()
    x = torch.rand(1, 3, 36, 52) * 2 - 1
    with torch.no_grad():
        y = g(x, style_vector(0, 3))
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert (y - x).abs().max() < 0.05  # starts near the identity (small last layer)


def test_colour_head_costs_352_macs_a_pixel_at_16_channels():
    plain = count_macs(Generator(GeneratorConfig()).deploy(), 64, 64)
    head = count_macs(Generator(GeneratorConfig(colour_channels=16)).deploy(), 64, 64)
    assert head - plain == 64 * 64 * (3 * 16 + 16 * 16 + 16 * 3)


def test_heads_at_half_moves_only_the_rgb_conv_and_the_context_projection():
    """The context projection is a 1x1 conv, which commutes with nearest upsampling: with the RGB conv
    silenced the two layouts agree to float rounding; with it, they differ (it sees half-resolution
    features). Every full-resolution MAC but the colour head's per-pixel ones moves to 1/4 the pixels."""
    torch.manual_seed(0)
    full = Generator(GeneratorConfig(num_styles=2, colour_channels=16)).eval()
    for p in full.parameters():
        p.data += 0.1 * torch.randn_like(p)
    half = Generator(GeneratorConfig(num_styles=2, colour_channels=16, heads_at_half=True)).eval()
    half.load_state_dict(full.state_dict())
    x, s = torch.rand(1, 3, 32, 48) * 2 - 1, style_vector([0.4, 0.6], 2)
    with torch.no_grad():
        assert (full(x, s) - half(x, s)).abs().max() > 1e-3
        full.to_rgb.weight.zero_()
        half.to_rgb.weight.zero_()
        assert (full(x, s) - half(x, s)).abs().max() < 1e-5
    saved = count_macs(full.deploy(), 64, 64) - count_macs(half.deploy(), 64, 64)
    assert saved == 64 * 64 * 3 // 4 * (16 * 3 * 9 + 16 * 16)


def test_colour_head_alone_can_turn_a_photo_grey():
    """The per-pixel path is able to express a global grade exactly: here, luminance in every channel."""
    g = Generator(GeneratorConfig(num_styles=1, colour_channels=16)).eval()
    luma = torch.tensor([0.299, 0.587, 0.114])
    with torch.no_grad():
        g.colour_pixel.weight.zero_()
        g.colour_context.weight.zero_()  # this test is about the per-pixel path alone
        g.colour_pixel.bias.fill_(1.0)
        g.colour_pixel.weight[0, :, 0, 0] = luma  # hidden_0 = luma(x) + 1 > 0 (ReLU passes it)
        g.colour_pixel.weight[1, :, 0, 0] = torch.tensor([1.0, 0, 0])
        g.colour_pixel.weight[2, :, 0, 0] = torch.tensor([0, 1.0, 0])
        g.colour_pixel.weight[3, :, 0, 0] = torch.tensor([0, 0, 1.0])
        g.colour_out.weight.zero_()
        g.colour_out.bias.zero_()
        for c in range(3):  # out_c = x_c + (luma + 1) - (x_c + 1) = luma
            g.colour_out.weight[c, 0, 0, 0] = 1.0
            g.colour_out.weight[c, 1 + c, 0, 0] = -1.0
        g.to_rgb.weight.zero_()
        x = torch.rand(1, 3, 32, 32) * 1.6 - 0.8
        y = g(x, style_vector(0, 1))
    expected = (x * luma.view(1, 3, 1, 1)).sum(1, keepdim=True).expand_as(x)
    assert (y - expected).abs().max() < 1e-5


def test_macs_and_parameters_are_within_the_real_time_budget():
    g = Generator(GeneratorConfig(colour_channels=16)).deploy()
    macs_720p = count_macs(g, 720, 1280)
    assert macs_720p == 4 * count_macs(g, 360, 640)
    assert macs_720p < 4e9  # DESIGN.md: about 4 GMAC per 720p frame
    assert count_parameters(g) < 1_000_000


def test_exported_graph_uses_only_the_deploy_op_set(trained_like):
    onnx = pytest.importorskip("onnx")
    from trainer.export import to_onnx
    model = onnx.load_model_from_string(to_onnx(trained_like.deploy()))
    assert {n.op_type for n in model.graph.node} <= {"Conv", "Relu", "Add", "Mul", "Resize", "Clip"}
    assert [i.name for i in model.graph.input] == ["image", "style"]
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, w in ((36, 52), (128, 236)):  # dynamic H/W, multiples of 4
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
        s = style_vector(2, 3).numpy()
        with torch.no_grad():
            expected = trained_like.deploy()(torch.from_numpy(x), torch.from_numpy(s)).numpy()
        got = session.run(None, {"image": x, "style": s})[0]
        assert np.abs(got - expected).max() < 1e-4
