"""The scripts a lent GPU session runs (benchmarks/gpu_session.sh, ncu_kernels.py), checked here as far as a
machine without a GPU can: a mistake found on the device costs minutes of its scarce time."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_session_script_parses():
    result = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_session.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_profiler_also_launches_a_persistent_build_that_the_check_times():
    pytest.importorskip("torch")
    from benchmarks.gpu_check import POST_BUILDS
    from benchmarks.ncu_kernels import PROFILED_BUILD
    from sdk.cuda.kernels import is_persistent

    assert PROFILED_BUILD in POST_BUILDS and is_persistent(PROFILED_BUILD[1])


def test_the_check_compiles_every_build_it_loads_at_once_first(monkeypatch):
    """gpu_check compiles the default build and each swept one for the GPU's architecture before anything loads
    them; a failed compile is reported and left to the parts that load the builds."""
    pytest.importorskip("torch")
    import torch

    from benchmarks import gpu_check
    from sdk.errors import EngineBuildError

    calls = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (8, 7))
    monkeypatch.setattr(gpu_check, "compile_builds", lambda arch, builds: calls.append((arch, builds)) or [2.0, 3.0])
    assert gpu_check.compile_all_builds().startswith("2 in ")
    assert calls == [("sm_87", [(8, ()), *gpu_check.POST_BUILDS])]

    def fail(arch, builds):
        raise EngineBuildError("NVRTC compile for sm_87 failed: NVRTC_ERROR_COMPILATION\nkernel.cu(1): error")
    monkeypatch.setattr(gpu_check, "compile_builds", fail)
    assert gpu_check.compile_all_builds() == \
        "failed (EngineBuildError: NVRTC compile for sm_87 failed: NVRTC_ERROR_COMPILATION)"


def test_the_sweep_of_unmeasured_builds_runs_after_the_end_to_end_figures():
    """A fault in a swept build can end the check's CUDA context; the sections before it keep their figures."""
    pytest.importorskip("torch")
    from benchmarks.gpu_check import SECTIONS

    assert SECTIONS[-1] == "post_builds" and SECTIONS.index("end_to_end") < SECTIONS.index("post_builds")


def test_the_fastest_post_build_per_size_is_named_against_the_default():
    pytest.importorskip("torch")
    from benchmarks.gpu_check import fastest_post_builds

    def row(kernel, frame, rows, defines, ms):
        return {"kernel": kernel, "frame": frame, "post_rows": rows, "defines": defines, "ms": ms, "x_floor": ms / 0.01}
    timings = [row("pre", "1920x1080", 8, "", 0.001), row("post", "1920x1080", 8, "", 0.018),
               row("post", "3840x2160", 8, "", 0.040), row("post+temporal", "3840x2160", 8, "", 0.001),
               row("post", "1920x1080", 4, "SK_POST_PERSISTENT=1 SK_POST_MIN_BLOCKS=2", 0.015),
               row("post", "3840x2160", 4, "SK_POST_PERSISTENT=1 SK_POST_MIN_BLOCKS=2", 0.044),
               row("post", "3840x2160", 8, "SK_POST_MIN_BLOCKS=2", 0.032)]
    assert fastest_post_builds(timings) == [
        {"frame": "1920x1080", "build": "4 pers minblk2", "cold_ms": 0.015, "x_floor": 1.5, "default_cold_ms": 0.018,
         "gain_vs_default": 1.2},
        {"frame": "3840x2160", "build": "8 minblk2", "cold_ms": 0.032, "x_floor": 3.2, "default_cold_ms": 0.040,
         "gain_vs_default": 1.25}]
    # The default's section failed: the sweep's fastest is still named.
    assert fastest_post_builds(timings[4:6])[0]["gain_vs_default"] is None
