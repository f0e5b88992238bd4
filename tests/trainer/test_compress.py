"""Compression: pruning keeps the channel rules and the MACs target, distillation learns, the INT8
file has the quantization TensorRT takes, FP16 is FP16, and the SDK picks variants by the rules."""
import copy
import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import sdk
from sdk.errors import ModelLoadError
from sdk.package import DEFAULT_PACKAGE
from trainer import compress
from trainer.compress import metrics
from trainer.export import generator_from_package
from trainer.models.generator import count_macs


@pytest.fixture(scope="module")
def teacher():
    return generator_from_package(sdk.load_package())


@pytest.fixture(scope="module")
def fp32_bytes():
    return sdk.load_package().file("fp32").read_bytes()


def test_generator_from_package_reproduces_the_onnx(teacher, fp32_bytes):
    import onnxruntime as ort
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    style = torch.tensor([0.2, 0.3, 0.1, 0.4]).view(1, 4, 1, 1)  # a mix of the shipped four styles
    with torch.no_grad():
        expected = teacher(x, style).numpy()
    got = ort.InferenceSession(fp32_bytes, providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy(), "style": style.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("target", [0.5, 0.25])
def test_prune_meets_the_macs_target_with_channels_in_multiples_of_8(teacher, target):
    student = compress.prune(teacher, target)
    assert count_macs(student, 720, 1280) <= target * count_macs(teacher, 720, 1280)
    channels = compress.conv_channels(student)
    assert channels.pop("to_rgb") == 3 and channels.pop("colour_out") == 3  # RGB output convs are never pruned
    ink = {k: channels.pop(k) for k in list(channels) if k.startswith("ink_")}  # nor is the fixed ink path
    assert ink == {k: c for k, c in compress.conv_channels(teacher).items() if k.startswith("ink_")}
    assert all(c % 8 == 0 and c > 0 for c in channels.values()), channels
    assert channels["stem.conv"] < 16 and channels["down.conv"] < 48
    out = student(torch.zeros(1, 3, 36, 64), torch.eye(4)[:1].view(1, 4, 1, 1))
    assert out.shape == (1, 3, 36, 64)


def test_distillation_moves_the_student_toward_the_teacher(teacher, photos_rgb):
    import cv2
    student = compress.prune(teacher, 0.25)
    before = copy.deepcopy(student)
    history = compress.distill(student, teacher, iterations=60, batch=4, crop=64, progress=False)
    assert len(history) == 60 and np.isfinite(history).all()
    photo = cv2.resize(photos_rgb["chelsea"], (128, 96)).astype(np.float32) / 127.5 - 1  # held out
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)
    style = torch.eye(4)[:3].view(3, 4, 1, 1)
    with torch.no_grad():
        target = teacher(x, style)
        error_before = (before(x, style) - target).abs().mean()
        error_after = (student(x, style) - target).abs().mean()
    assert error_after < 0.7 * error_before, (float(error_before), float(error_after))


@pytest.fixture(scope="module")
def int8_model(fp32_bytes):
    return onnx.load_from_string(compress.to_int8(fp32_bytes, 4))


def test_int8_is_qdq_per_channel_symmetric_with_float_bias_and_float_style_path(int8_model, fp32_bytes):
    graph = int8_model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    quantized = [c for c in convs if c.input[1] in producers and producers[c.input[1]].op_type == "DequantizeLinear"]
    assert len(quantized) == 24  # every per-pixel conv; the 42 style-path 1x1 convs stay in float
    for conv in quantized:
        weight_dq = producers[conv.input[1]]
        q_weight, scale, zero = (inits[i] for i in weight_dq.input[:3])
        assert q_weight.dtype == np.int8 and not zero.any()  # symmetric INT8
        assert scale.shape == (q_weight.shape[0],)  # per output channel
        act_dq = producers[conv.input[0]]
        assert act_dq.op_type == "DequantizeLinear" and inits[act_dq.input[1]].size == 1
        assert inits[act_dq.input[2]].dtype == np.int8 and not inits[act_dq.input[2]].any()
        assert len(conv.input) < 3 or conv.input[2] in inits and inits[conv.input[2]].dtype == np.float32
    style_path = set(compress.style_path_nodes(fp32_bytes))
    assert len(style_path) >= 40
    assert not [c.name for c in quantized if c.name in style_path]


def test_int8_and_fp16_stay_close_to_fp32_on_a_real_photo(int8_model, fp32_bytes, photos_rgb):
    import cv2
    image = cv2.resize(photos_rgb["chelsea"], (320, 240))
    style = np.eye(4, dtype=np.float32)[1].reshape(1, 4, 1, 1)
    ref = metrics.run_rgb(metrics.ort_session(fp32_bytes), image, style)
    fp16 = compress.to_fp16(fp32_bytes)
    assert metrics._input_dtype(fp16) == np.float16
    from trainer.evaluate import psnr
    assert psnr(metrics.run_rgb(metrics.ort_session(fp16), image, style), ref) > 40
    assert psnr(metrics.run_rgb(metrics.ort_session(int8_model.SerializeToString()), image, style), ref) > 30


def synthetic_package(tmp_path, variants):
    dst = tmp_path / "pkg"
    shutil.copytree(DEFAULT_PACKAGE, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["variants"] = variants
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return sdk.load_package(dst)


def test_auto_picks_the_fastest_variant_that_passes_its_floor(tmp_path):
    v = {"fp32": {"file": "generator.onnx", "precision": "fp32", "passes_floor": True, "cpu_ms_640x360": 10.0},
         "int8": {"file": "generator.onnx", "precision": "int8", "passes_floor": False, "cpu_ms_640x360": 4.0},
         "pruned50": {"file": "generator.onnx", "precision": "fp32", "passes_floor": True, "cpu_ms_640x360": 7.0},
         "fp16": {"file": "generator.onnx", "precision": "fp16", "passes_floor": True, "cpu_ms_640x360": 30.0}}
    package = synthetic_package(tmp_path, v)
    assert package.choose_variant("auto")[:2] == ("pruned50", "fp32")
    assert package.choose_variant("auto", runnable=("int8",))[0] == "fp32"  # nothing passes: the FP32 file
    assert package.choose_variant("fp32")[:2] == ("fp32", "fp32")  # explicit precision: the unpruned file
    assert package.choose_variant("auto", "int8")[:2] == ("int8", "int8")  # named: taken as asked
    with pytest.raises(ModelLoadError, match="no variant 'pruned10'.*'fp16', 'fp32', 'int8', 'pruned50'"):
        package.choose_variant("auto", "pruned10")
    with pytest.raises(ModelLoadError, match="variant 'pruned50' is fp32, but precision='int8'"):
        package.choose_variant("int8", "pruned50")
    with sdk.Stylizer(package.path, backend="onnxruntime") as s:
        assert s.backend == "onnxruntime on cpu (pruned50, fp32)"
