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


def _imported_packages(folder):
    import ast
    from pathlib import Path
    found = {}
    for path in Path(folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path))
    return found


def test_dependencies_run_one_way_sdk_to_kernels_and_never_to_the_trainer():
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    kernels_imports, sdk_imports = _imported_packages(root / "kernels"), _imported_packages(root / "sdk")
    assert "sdk" not in kernels_imports, f"kernels/ imports the SDK in {sorted(kernels_imports.get('sdk', []))}"
    assert "trainer" not in sdk_imports, f"sdk/ imports the trainer in {sorted(sdk_imports.get('trainer', []))}"
    assert "kernels" in sdk_imports  # the launch contract and the sources come from there


def test_kernel_sources_are_found_as_package_data():
    import importlib.resources
    from pathlib import Path
    from sdk.cuda import compiler
    assert compiler.KERNEL_DIR == Path(str(importlib.resources.files("kernels")))
    assert (compiler.KERNEL_DIR / compiler.SOURCE).is_file()
    assert all((compiler.KERNEL_DIR / h).is_file() for h in compiler.HEADERS)
