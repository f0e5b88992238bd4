"""Model packages that are missing, corrupt, tampered or of another format give ModelLoadError naming the file;
bad frames and arguments are in test_bad_input.py."""
import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest

import sdk
from sdk.errors import (BackendUnavailableError, InvalidFrameError, ModelLoadError, StylizerError,
                        UnknownStyleError)
from sdk.package import DEFAULT_PACKAGE


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
    (lambda m: m.update(lean={"styles": 4, "files": {}}), "lean must be {'styles': int in 1..3"),
    (lambda m: m.update(lean={"styles": 2, "files": {"generator.onnx": "lean_generator.onnx"}}),
     "= 'lean_generator.onnx': both must have an entry in 'files'"),
])
def test_manifest_validation(package_copy, edit, message):
    path = package_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sdk.load_package(package_copy)


def replace_with_matching_checksum(package, name, blob):
    """Tamper with a file *and* its manifest entry, so loading gets past the checksum to the parser."""
    (package / name).write_bytes(blob)
    manifest_path = package / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name]["sha256"] = hashlib.sha256(blob).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


class Payload:
    """Unpickling this creates a marker file: proof that a loader ran code from a model file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
@pytest.mark.parametrize("content", ["pickle", "truncated", "empty", "garbage"])
def test_unparseable_model_file_is_a_model_load_error_naming_it(package_copy, tmp_path, backend, content):
    marker = tmp_path / "code_ran"
    original = (package_copy / "generator.onnx").read_bytes()
    blob = {"pickle": pickle.dumps(Payload(marker)), "truncated": original[: len(original) // 3], "empty": b"",
            "garbage": np.random.default_rng(0).bytes(4096)}[content]
    replace_with_matching_checksum(package_copy, "generator.onnx", blob)
    with pytest.raises(ModelLoadError, match=r"generator\.onnx"):
        sdk.Stylizer(package_copy, backend=backend, precision="fp32")  # the file this backend parses
    assert not marker.exists(), "the model file was unpickled"


def test_pickle_listed_in_the_manifest_is_refused_unread(package_copy, tmp_path):
    marker = tmp_path / "code_ran"
    (package_copy / "weights.pt").write_bytes(pickle.dumps(Payload(marker)))
    manifest = json.loads((package_copy / "manifest.json").read_text())
    manifest["files"]["weights.pt"] = {"sha256": hashlib.sha256((package_copy / "weights.pt").read_bytes()).hexdigest()}
    manifest["precisions"]["fp16"] = "weights.pt"
    (package_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"file 'weights\.pt' is not an ONNX file.*no pickles"):
        sdk.load_package(package_copy)
    assert not marker.exists()


@pytest.mark.parametrize("location", ["../../outside.bin", "/etc/passwd", "weights.bin"])
def test_onnx_with_external_data_is_refused(package_copy, location):
    import onnx
    model = onnx.load(str(package_copy / "generator.onnx"))
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    replace_with_matching_checksum(package_copy, "generator.onnx", model.SerializeToString())
    with pytest.raises(ModelLoadError, match=r"generator\.onnx stores weights in external data files"):
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
