"""TensorRT: every shipped ONNX parses and builds under NVIDIA's builder (TensorRT for RTX, ahead of
time on the CPU), the engine cache rebuilds stale or corrupt entries, and the backend reports why
it cannot run here."""
import json

import numpy as np

import pytest

import sdk
from sdk.errors import BackendUnavailableError, EngineBuildError
from sdk.tensorrt import builder


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLIZER_CACHE", str(tmp_path))


def _rtx():
    pytest.importorskip("tensorrt_rtx", reason="TensorRT for RTX is not installed (`pip install tensorrt-rtx-cu13`)")
    try:
        return builder.import_tensorrt("tensorrt_rtx")
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("file", sorted(sdk.load_package().manifest["files"]))
def test_every_shipped_onnx_builds_with_tensorrt_rtx_on_the_cpu(file):
    """Every variant (FP32, FP16, INT8 QDQ, pruned) is a valid TensorRT input: parse + build."""
    _rtx()
    package = sdk.load_package()
    # The SDK's profiles for 640x360 and 1280x720 frames, for an RTX 30-series GPU, ahead of time.
    engine = builder.build_engine((package.path / file).read_bytes(), "image", len(package.styles),
                                  [(360, 640), (720, 1280)], "tensorrt_rtx", compute_capability="SM86")
    assert isinstance(engine, bytes) and len(engine) > 100_000


def test_parse_errors_are_all_reported():
    _rtx()
    with pytest.raises(EngineBuildError, match=r"could not parse the ONNX \(1 errors\):\n.*Failed to parse"):
        builder.build_engine(b"not an onnx model" * 10, "image", 3, [(64, 64)], "tensorrt_rtx",
                             compute_capability="SM86")


def _key(**changes):
    fields = dict(onnx_sha256="a" * 64, flavour="tensorrt_rtx", trt_version="1.7", gpu="RTX 4090",
                  compute_capability="sm_89", precision="fp16", profiles=((360, 640),))
    fields.update(changes)
    return builder.EngineKey(**fields)


def test_engine_cache_round_trip_and_rebuilds_stale_or_corrupt_entries(tmp_path):
    key = _key()
    assert builder.load_cached(key) is None
    path = builder.store(key, b"engine-bytes")
    assert builder.load_cached(key) == b"engine-bytes"
    # Any field of the key changes the entry: a new TensorRT version or GPU never reuses an engine.
    assert builder.load_cached(_key(trt_version="1.8")) is None
    assert builder.load_cached(_key(compute_capability="sm_87")) is None
    path.write_bytes(b"engine-bytez")  # corrupt
    assert builder.load_cached(key) is None
    path.write_bytes(b"engine-bytes")
    meta = path.with_suffix(".json")
    doc = json.loads(meta.read_text())
    doc["key"]["precision"] = "int8"  # a hand-edited or colliding entry
    meta.write_text(json.dumps(doc))
    assert builder.load_cached(key) is None
    meta.write_text("{truncated")
    assert builder.load_cached(key) is None


def test_backend_says_why_it_cannot_run_here():
    status = {b.name: b for b in sdk.list_backends()}["tensorrt"]
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        assert not status.available and ("no CUDA GPU" in status.reason or "no usable TensorRT" in status.reason)
        with pytest.raises(BackendUnavailableError, match="backend 'tensorrt' is unavailable"):
            sdk.Stylizer(backend="tensorrt")


def test_build_engine_cli_ahead_of_time(tmp_path, capsys):
    _rtx()
    from sdk.cli import main
    assert main(["build-engine", "--sizes", "640x360", "--compute-capability", "SM86", "--out", str(tmp_path)]) == 0
    assert "built" in capsys.readouterr().out
    assert (tmp_path / "generator.fp32.640x360.engine").stat().st_size > 100_000
    assert main(["build-engine", "--sizes", "640x360", "--compute-capability", "SM86"]) == 0
    assert "is up to date" in capsys.readouterr().out


@pytest.mark.tensorrt
def test_tensorrt_backend_matches_onnxruntime():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or not {b.name: b for b in sdk.list_backends()}["tensorrt"].available:
        pytest.skip("no TensorRT runtime that can run on this GPU")
    import numpy as np
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    with sdk.Stylizer(backend="tensorrt") as trt, sdk.Stylizer(backend="onnxruntime", precision="fp32") as cpu:
        assert np.abs(trt(frame).astype(int) - cpu(frame).astype(int)).max() <= 2


@pytest.mark.tensorrt
def test_tensorrt_submit_pipelines_in_order_and_matches_the_plain_call():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or not {b.name: b for b in sdk.list_backends()}["tensorrt"].available:
        pytest.skip("no TensorRT runtime that can run on this GPU")
    import numpy as np
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(5)]
    with sdk.Stylizer(backend="tensorrt") as trt:
        plain = [trt(f) for f in clip]
        piped = list(trt.stream(clip))
    for want, got in zip(plain, piped, strict=True):
        np.testing.assert_array_equal(got, want)


def _onnxruntime_runner(package):
    import onnxruntime as ort
    session = ort.InferenceSession(package.file("fp32").read_bytes(), providers=["CPUExecutionProvider"])
    return lambda image, style: session.run(None, {"image": image, "style": style})[0]


def test_reduced_precision_engine_check_passes_a_faithful_engine():
    from sdk.tensorrt.verify import verify_engine
    package = sdk.load_package()
    ort_run = _onnxruntime_runner(package)
    # An "engine" with FP16-sized rounding passes
    stats = verify_engine(lambda x, s: ort_run(x, s).astype(np.float16).astype(np.float32), package, (64, 96), "fp16")
    assert stats["mean_abs"] < 1e-3 and stats["outlier_fraction"] == 0.0


@pytest.mark.parametrize("fault,message", [
    (lambda y: np.where(np.arange(y.size).reshape(y.shape) % 97 == 0, np.inf, y), "non-finite values"),
    (lambda y: np.full_like(y, -1.0), "differs from the FP32 model"),  # a black frame
    (lambda y: y + 0.05, "mean abs 0.05"),
])
def test_reduced_precision_engine_check_refuses_overflow_black_frames_and_drift(fault, message):
    from sdk.tensorrt.verify import verify_engine
    package = sdk.load_package()
    ort_run = _onnxruntime_runner(package)
    with pytest.raises(EngineBuildError, match=message + ".*not cached"):
        verify_engine(lambda x, s: fault(ort_run(x, s)), package, (64, 96), "fp16")


def test_engine_check_covers_only_the_styles_an_engine_serves():
    """An engine of a lean file serves the styles before the added ones: the check runs those, and only those."""
    from sdk.tensorrt.verify import verify_engine
    package = sdk.load_package()
    ort_run = _onnxruntime_runner(package)
    asked = []

    def wrong_on_the_last_style(image, style):
        asked.append(int(np.argmax(style.reshape(-1))))
        return ort_run(image, style) + (0.5 if style.reshape(-1)[-1] else 0.0)

    stats = verify_engine(wrong_on_the_last_style, package, (64, 96), "fp16", styles=range(3))
    assert stats["max_abs"] < 1e-6 and sorted(set(asked)) == [0, 1, 2]
    with pytest.raises(EngineBuildError, match="differs from the FP32 model"):
        verify_engine(wrong_on_the_last_style, package, (64, 96), "fp16")
