"""Colour-head channels that an added style owns (add_style.grow_colour_head): off, exactly, for every other
style, so the old styles stay bit-identical through the SDK's own sessions; trained alone; clamped so INT8
per-row weight scales stay as they were; dropped again when the style is removed."""
import numpy as np
import pytest
import torch

from sdk.package import load_package
from trainer import add_style, photos, styles
from trainer.compress.widen import _run
from trainer.export import generator_from_package, resize_convs, to_onnx
from trainer.models.generator import Generator, GeneratorConfig, is_style_column_weight, style_vector

OWNED = 8


@pytest.fixture(scope="module")
def package():
    return load_package(None)


def grown(base, start_from=1, seed=0):
    model = add_style.grow_colour_head(add_style.widen(base, start_from), OWNED, seed)
    with torch.no_grad():  # as training leaves them: every owned weight and the new column non-zero
        generator = torch.Generator().manual_seed(seed)
        model.colour_out.weight[:, -OWNED:] = 0.05 * torch.randn(3, OWNED, 1, 1, generator=generator)
        beta = model.colour_affine.to_beta.weight
        beta[:, -1] = 0.1 * torch.randn(beta.shape[0], 1, 1, generator=generator)
    add_style.clamp_owned_outputs(model, OWNED)
    return model


@pytest.mark.parametrize("variant", ["fp32", "pruned25"])
def test_owned_channels_leave_every_old_style_bit_identical_and_move_the_new_one(package, variant):
    base = generator_from_package(package, variant)
    model = grown(base)
    hidden = base.colour_pixel.out_channels
    assert model.colour_pixel.out_channels == hidden + OWNED and model.colour_out.in_channels == hidden + OWNED
    entry = package.variants[variant]
    base_blob, blob = (package.path / entry["file"]).read_bytes(), to_onnx(model)
    images = photos.load_set(photos.HELD_OUT)[:1]
    for k in range(len(package.style_names)):
        before = _run(base_blob, k, 4, images, entry["onnxruntime_nchwc"])[0]
        after = _run(blob, k, 5, images, entry["onnxruntime_nchwc"])[0]
        np.testing.assert_array_equal(after, before, err_msg=f"old style {k}")
    # The new style started as vintage (column 1); its owned channels now move it away from that.
    start = _run(base_blob, 1, 4, images, entry["onnxruntime_nchwc"])[0].astype(int)
    new = _run(blob, 4, 5, images, entry["onnxruntime_nchwc"])[0].astype(int)
    assert np.abs(new - start).mean() > 1.0


def test_only_the_owned_slices_and_the_new_column_train(package):
    model = add_style.grow_colour_head(add_style.widen(generator_from_package(package), 0), OWNED)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = add_style.new_style_parameters(model, OWNED)
    optimizer = torch.optim.Adam(params, lr=0.05)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for _ in range(3):
        loss = (model(x, style_vector(4, 5, 2)) - 0.3).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    hidden = model.colour_pixel.out_channels - OWNED
    assert torch.equal(after["colour_pixel.weight"][:hidden], before["colour_pixel.weight"][:hidden])
    assert torch.equal(after["colour_context.weight"][:hidden], before["colour_context.weight"][:hidden])
    assert torch.equal(after["colour_out.weight"][:, :hidden], before["colour_out.weight"][:, :hidden])
    assert not torch.equal(after["colour_out.weight"][:, hidden:], before["colour_out.weight"][:, hidden:])
    assert not torch.equal(after["colour_pixel.weight"][hidden:], before["colour_pixel.weight"][hidden:])
    assert torch.equal(after["stem.conv.weight"], before["stem.conv.weight"])
    assert torch.equal(after["colour_affine.to_gamma.weight"][:, :4], before["colour_affine.to_gamma.weight"][:, :4])


def test_the_clamp_keeps_each_output_rows_largest_weight_and_so_its_int8_scale(package):
    model = add_style.grow_colour_head(add_style.widen(generator_from_package(package), 0), OWNED)
    old_max = model.colour_out.weight[:, :-OWNED].abs().amax(dim=(1, 2, 3))
    with torch.no_grad():
        model.colour_out.weight[:, -OWNED:] = 10.0
        model.colour_out.weight[0, -1] = -10.0
    add_style.clamp_owned_outputs(model, OWNED)
    torch.testing.assert_close(model.colour_out.weight.abs().amax(dim=(1, 2, 3)), old_max, rtol=0, atol=0)
    assert float(model.colour_out.weight[0, -1]) == -float(old_max[0])


def test_removing_the_style_drops_the_channels_it_owned(package):
    base = generator_from_package(package)
    state = grown(base, start_from=2).state_dict()
    state = {k: v[:, :4] if is_style_column_weight(k) else v for k, v in state.items()}
    state = styles._without_idle_colour_channels(state)
    shapes = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("out_affine.")}
    assert shapes == {k: tuple(v.shape) for k, v in base.state_dict().items()}
    model = Generator(GeneratorConfig(**{**base.config.to_dict(), "output_affine": True})).deploy()
    resize_convs(model, {k: tuple(v.shape) for k, v in state.items() if k.endswith(".weight")})
    model.load_state_dict(state)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        for k in range(4):
            assert torch.equal(model(x, style_vector(k, 4)), base(x, style_vector(k, 4))), k


def test_int8_keeps_the_old_styles_only_with_the_base_activation_scales(package):
    """Calibration sees the owned channels' raw conv outputs (before their gate), which widens that tensor's
    range and re-quantizes the old channels; the base file's activation scales put them back."""
    from trainer.compress.quantize import (calibration_inputs, ink_path_nodes, quantize_qdq, style_path_nodes,
                                           with_activation_scales_of)
    blob = to_onnx(grown(generator_from_package(package, "pruned25")))
    entry = package.variants["pruned25-int8"]
    base_int8 = (package.path / entry["file"]).read_bytes()
    quantized = quantize_qdq(blob, calibration_inputs(5, calibrated_styles=4),
                             exclude=style_path_nodes(blob) + ink_path_nodes(blob))
    images = photos.load_set(photos.HELD_OUT)[:1]
    before = _run(base_int8, 0, 4, images, entry["onnxruntime_nchwc"])[0]
    assert not np.array_equal(_run(quantized, 0, 5, images, entry["onnxruntime_nchwc"])[0], before)
    patched = with_activation_scales_of(quantized, base_int8)
    for k in range(4):
        np.testing.assert_array_equal(_run(patched, k, 5, images, entry["onnxruntime_nchwc"])[0],
                                      _run(base_int8, k, 4, images, entry["onnxruntime_nchwc"])[0], err_msg=str(k))
