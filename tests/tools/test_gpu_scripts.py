"""The scripts a lent GPU session runs (tools/gpu_session.sh, ncu_kernels.py), checked here as far as a
machine without a GPU can: a mistake found on the device costs minutes of its scarce time."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_session_script_parses():
    result = subprocess.run(["bash", "-n", str(ROOT / "tools" / "gpu_session.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_profiler_also_launches_a_persistent_build_that_the_check_times():
    pytest.importorskip("torch")
    from benchmarks.gpu_check import POST_BUILDS
    from tools.ncu_kernels import PROFILED_BUILD
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


def test_the_rounds_script_times_every_build_each_round_and_pairs_the_ratios(monkeypatch, tmp_path, capsys):
    """post_build_rounds.py's loop with the GPU parts stood in for: every build timed in every round, in a shifted
    order, each build's ratio taken against the first build's time in the same round, and with --baseline the same
    builds of the other kernels folder first (compiled from that folder, which is then put back)."""
    pytest.importorskip("torch")
    import json

    import torch

    from benchmarks import gpu_check
    from tools import post_build_rounds
    from sdk.cuda import compiler
    from sdk.cuda import kernels as kernels_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (9, 0))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Stand-in GPU")
    compiled, made = [], []
    monkeypatch.setattr(compiler, "compile_builds", lambda arch, builds: compiled.append((arch, builds)))
    own_dir, baseline = compiler.KERNEL_DIR, tmp_path / "old" / "kernels"

    class Build:
        def __init__(self, device, post_rows, defines):
            self.index = len(made)
            made.append((post_rows, defines, compiler.KERNEL_DIR))

    monkeypatch.setattr(kernels_module, "StylizeKernels", Build)
    monkeypatch.setattr(gpu_check, "copy_bandwidth", lambda: 4.0e12)
    order = []
    builds = 2 * len(post_build_rounds.BUILDS)

    def time_kernels(kernels, bandwidth, rng, names):
        order.append(kernels.index)
        slow_round = 2.0 if len(order) > builds else 1.0  # round 2 is twice as slow for every build: no ratio moves
        scale = slow_round * (1 + 0.1 * kernels.index)
        return [{"kernel": k, "frame": f, "ms": scale * (2 if k == "post+temporal" else 1), "ms_warm_l2": scale / 2}
                for k in names for f in ("1920x1080", "3840x2160")]
    monkeypatch.setattr(gpu_check, "time_kernels", time_kernels)
    monkeypatch.setattr(sys, "argv", ["post_build_rounds.py", "--rounds", "2", "--out", str(tmp_path),
                                      "--baseline", str(baseline)])

    assert post_build_rounds.main() == 0
    assert compiled == [("sm_90", post_build_rounds.BUILDS)]
    assert made == [(rows, defines, baseline.resolve()) for rows, defines in post_build_rounds.BUILDS] + \
        [(rows, defines, own_dir) for rows, defines in post_build_rounds.BUILDS]
    assert compiler.KERNEL_DIR == own_dir
    assert order == [0, 1, 2, 3, 1, 2, 3, 0]
    rows = json.loads((tmp_path / "post_build_rounds.json").read_text())["rows"]
    assert len(rows) == builds * 2 * 2 and [r["build"] for r in rows[:4]] == ["base 8 minblk3"] * 4
    ratios = {(r["build"], r["kernel"], r["frame"]): r["cold_vs_first_median"] for r in rows}
    assert ratios[("base 8 minblk2", "post", "3840x2160")] == 1.1
    assert ratios[("8 minblk2", "post+temporal", "1920x1080")] == 1.3
    first = rows[0]
    assert (first["cold_ms_min"], first["cold_ms_max"], first["cold_ms_median"]) == (1.0, 2.0, 1.5)
    assert "base 8 minblk2" in capsys.readouterr().out


def test_the_profiler_launches_one_kernel_of_a_named_build(monkeypatch, capsys):
    pytest.importorskip("torch")
    from tools import ncu_kernels

    made, launched = [], []

    class Build:
        def __init__(self, device, post_rows, defines):
            made.append((post_rows, defines))
    monkeypatch.setattr(ncu_kernels, "StylizeKernels", Build)
    monkeypatch.setattr(ncu_kernels.torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(ncu_kernels.torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(ncu_kernels, "kernel_launches", lambda kernels, H, W, rng: [
        (name, lambda name=name: launched.append((name, H, W)), 0) for name in ("pre", "post", "post+temporal")])
    monkeypatch.setattr(sys, "argv", ["ncu_kernels.py", "--only", "post", "--frame", "3840x2160", "--rows", "4",
                                      "--define", "SK_POST_MIN_BLOCKS=2"])
    assert ncu_kernels.main() == 0
    assert made == [(4, ("SK_POST_MIN_BLOCKS=2",))] and launched == [("post", 2160, 3840)]
    monkeypatch.setattr(sys, "argv", ["ncu_kernels.py", "--only", "postt"])
    with pytest.raises(SystemExit, match="--only 'postt': expected one of"):
        ncu_kernels.main()


def test_the_builds_session_script_parses():
    result = subprocess.run(["bash", "-n", str(ROOT / "tools" / "gpu_builds_session.sh")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
