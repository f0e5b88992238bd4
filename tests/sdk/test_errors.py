"""Bad input gets a typed error that says what was given and what was expected; the process keeps working."""
import json
import shutil

import numpy as np
import pytest

import sdk
from sdk.errors import (BackendUnavailableError, InvalidFrameError, ModelLoadError, StylizerError,
                        UnknownStyleError)
from sdk.package import DEFAULT_PACKAGE


class FakeDeviceArray:
    __cuda_array_interface__ = {"shape": (4, 4, 3), "typestr": "|u1", "data": (0, False), "version": 3}


BAD_FRAMES = [
    (None, "NoneType", "numpy.ndarray"),
    ([[1, 2, 3]], "list", "numpy.ndarray"),
    ("frame.png", "str", "numpy.ndarray"),
    (FakeDeviceArray(), "FakeDeviceArray", "CUDA backend"),
    (np.zeros((8, 8, 3), np.float32), "float32", "uint8"),
    (np.full((8, 8, 3), np.nan, np.float64), "float64", "uint8"),
    (np.zeros((8, 8, 3), np.uint16), "uint16", "uint8"),
    (np.zeros((8, 8, 3), np.int32), "int32", "uint8"),
    (np.zeros((8, 8, 3), bool), "bool", "uint8"),
    (np.zeros(8, np.uint8), "(8,)", "HxWx3"),
    (np.zeros((2, 8, 8, 3), np.uint8), "(2, 8, 8, 3)", "HxWx3"),
    (np.zeros((8, 8, 2), np.uint8), "(8, 8, 2)", "HxWx3"),
    (np.zeros((8, 8, 5), np.uint8), "(8, 8, 5)", "HxWx3"),
    (np.zeros((0, 8, 3), np.uint8), "(0, 8, 3)", "empty"),
    (np.zeros((8, 0, 3), np.uint8), "(8, 0, 3)", "empty"),
    (np.zeros((0, 0), np.uint8), "(0, 0)", "empty"),
    (np.zeros((7681, 10, 3), np.uint8), "10x7681", "7680x4320"),
    (np.zeros((4321, 4330, 3), np.uint8), "4330x4321", "7680x4320"),
    (np.zeros((10, 7681, 3), np.uint8), "7681x10", "7680x4320"),
]


@pytest.mark.parametrize("frame,given,expected", BAD_FRAMES, ids=[str(i) for i in range(len(BAD_FRAMES))])
def test_bad_frame_raises_invalid_frame_error_naming_given_and_expected(stylizer, frame_bgr, frame, given, expected):
    with pytest.raises(InvalidFrameError) as info:
        stylizer(frame)
    assert isinstance(info.value, ValueError)
    assert given in str(info.value) and expected in str(info.value)
    # The process keeps working: the same stylizer handles a valid frame right after.
    assert stylizer(frame_bgr).shape == frame_bgr.shape


def test_unknown_style_suggests_the_closest(stylizer, frame_bgr):
    with pytest.raises(UnknownStyleError, match=r"Unknown style 'glwo'\. Did you mean 'glow'\? Available: glow, vintage, sketch"):
        stylizer(frame_bgr, style="glwo")
    with pytest.raises(UnknownStyleError, match="index 7 is out of range"):
        stylizer(frame_bgr, style=7)
    with pytest.raises(UnknownStyleError, match="sums to 0"):
        stylizer(frame_bgr, style={"glow": 0.0})
    with pytest.raises(UnknownStyleError, match="expected a style name"):
        stylizer(frame_bgr, style=1.5)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), "strong"])
def test_bad_strength(stylizer, frame_bgr, strength):
    with pytest.raises(ValueError, match="strength is .*expected a number from 0 to 1"):
        stylizer(frame_bgr, strength=strength)


def test_bad_out_buffer(stylizer, frame_bgr):
    with pytest.raises(InvalidFrameError, match="out is ndarray \\(10, 10, 3\\) uint8; expected a uint8 array"):
        stylizer(frame_bgr, out=np.zeros((10, 10, 3), np.uint8))


def test_missing_package_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="is not a folder"):
        sdk.Stylizer(tmp_path / "nope")


@pytest.fixture
def package_copy(tmp_path):
    dst = tmp_path / "pkg"
    shutil.copytree(DEFAULT_PACKAGE, dst)
    return dst


def test_corrupt_onnx_fails_checksum_naming_the_file(package_copy):
    onnx_file = package_copy / "generator.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"generator\.onnx: sha256 .* does not match"):
        sdk.Stylizer(package_copy)


def test_truncated_onnx_fails_checksum(package_copy):
    onnx_file = package_copy / "generator.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="generator.onnx"):
        sdk.load_package(package_copy)


def test_missing_model_file(package_copy):
    (package_copy / "generator.onnx").unlink()
    with pytest.raises(ModelLoadError, match="generator.onnx is listed in the manifest but missing"):
        sdk.load_package(package_copy)


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.update(format_version=99), "format version 99, this SDK reads version 1; upgrade this SDK"),
    (lambda m: m.update(format_version=0), "re-export the package"),
    (lambda m: m.pop("styles"), "missing field 'styles'"),
    (lambda m: m.update(stride="4"), "field 'stride' is str, expected int"),
    (lambda m: m["files"].update({"weights.pkl": {"sha256": "0" * 64}}), "not an ONNX file"),
    (lambda m: m["files"].update({"../evil.onnx": {"sha256": "0" * 64}}), "plain file name"),
])
def test_manifest_validation(package_copy, edit, message):
    path = package_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sdk.load_package(package_copy)


def test_manifest_not_json(package_copy):
    (package_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="manifest.json is not valid JSON"):
        sdk.load_package(package_copy)


def test_unknown_and_unavailable_backends():
    with pytest.raises(BackendUnavailableError, match="unknown backend 'tensorflow'"):
        sdk.Stylizer(backend="tensorflow")
    statuses = {b.name: b for b in sdk.list_backends()}
    if not statuses["torch-cuda"].available:
        with pytest.raises(BackendUnavailableError, match="backend 'torch-cuda' is unavailable: .*CUDA"):
            sdk.Stylizer(backend="torch-cuda")


def test_every_error_is_a_stylizer_error():
    for cls in (InvalidFrameError, UnknownStyleError, ModelLoadError, BackendUnavailableError):
        assert issubclass(cls, StylizerError)
