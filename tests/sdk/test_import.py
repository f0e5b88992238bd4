import subprocess
import sys


def test_import_sdk_loads_no_heavy_runtime():
    code = ("import sys, sdk; heavy = [m for m in ('onnxruntime', 'torch', 'tensorrt', 'onnx', 'cuda') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_public_api_snapshot():
    import sdk
    assert sorted(sdk.__all__) == sorted([
        "Stylizer", "stylize_frame", "stylize_video", "list_styles", "list_backends", "load_package",
        "ModelPackage", "BackendStatus", "VideoResult", "StylizerError", "InvalidFrameError", "UnknownStyleError",
        "ModelLoadError", "BackendUnavailableError", "EngineBuildError", "CudaFatalError", "VideoIOError",
        "__version__"])
    assert sdk.list_styles() == ["glow", "vintage", "sketch", "cartoon"]
