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
