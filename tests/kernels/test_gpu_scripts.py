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
