"""The CUDA kernels compile with NVRTC (no GPU needed) for every target GPU architecture."""
import pytest

pytest.importorskip("cuda.bindings.nvrtc", reason="cuda-bindings is not installed (`pip install 'stylizer-sdk[cuda]'`)")

from sdk.cuda import compiler  # noqa: E402
from sdk.errors import EngineBuildError  # noqa: E402

# Jetson Orin (sm_87), RTX 30/40 (sm_86/sm_89), Hopper (sm_90).
ARCHS = ["sm_86", "sm_87", "sm_89", "sm_90"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLIZER_CACHE", str(tmp_path))
    if not compiler.fp16_include_dirs():
        pytest.skip("cuda_fp16.h not found: `pip install nvidia-cuda-runtime` or set CUDA_HOME")


@pytest.mark.parametrize("arch", ARCHS)
def test_kernels_compile_to_a_cubin(arch):
    cubin = compiler.compile_cubin(arch)
    assert cubin[:4] == b"\x7fELF" and len(cubin) > 10_000
    for name in compiler.KERNEL_NAMES:
        assert name.encode() in cubin


def test_compiled_cubin_is_cached(tmp_path):
    first = compiler.compile_cubin("sm_87")
    cached = list((tmp_path / "kernels").glob("stylize_kernels-sm_87-*.cubin"))
    assert len(cached) == 1 and cached[0].read_bytes() == first
    assert compiler.compile_cubin("sm_87") == first


def test_a_compile_error_carries_the_nvrtc_log(monkeypatch, tmp_path):
    bad = tmp_path / "src"
    bad.mkdir()
    (bad / compiler.SOURCE).write_text("__global__ void k() { this is not cuda; }")
    (bad / "pixel_math.cuh").write_text("")
    monkeypatch.setattr(compiler, "KERNEL_DIR", bad)
    with pytest.raises(EngineBuildError, match=r"NVRTC compile for sm_90 failed: NVRTC_ERROR_COMPILATION\n.*error"):
        compiler.compile_cubin("sm_90", use_cache=False)


def test_post_tile_height_is_a_compile_option():
    """gpu_check.py builds the post kernels with other rows-per-thread values and register caps: each
    compiles and caches apart."""
    cubins = {rows: compiler.compile_cubin("sm_90", post_rows=rows) for rows in (2, 4, 8)}
    assert len(set(cubins.values())) == 3
    assert compiler.compile_cubin("sm_90") == cubins[8]  # the default
    assert compiler.compile_cubin("sm_90", defines=("SK_POST_MIN_BLOCKS=1",)) not in cubins.values()
    assert compiler.compile_cubin("sm_90", defines=("SK_POST_MIN_BLOCKS=3",)) not in cubins.values()


@pytest.mark.parametrize("arch", ["sm_75", "sm_90"])
def test_the_next_wave_prefetch_is_a_compile_option(arch):
    """SK_POST_PREFETCH_NEXT=1 (inline PTX: prefetch.global.L2 and %nsmid) compiles, and changes the code."""
    with_prefetch = compiler.compile_cubin(arch, defines=("SK_POST_PREFETCH_NEXT=1",))
    assert with_prefetch[:4] == b"\x7fELF" and with_prefetch != compiler.compile_cubin(arch)


@pytest.mark.parametrize("arch", ["sm_75", "sm_87", "sm_90"])
def test_the_persistent_post_kernel_is_a_compile_option(arch):
    """SK_POST_PERSISTENT=1 (the staged kernel looping over tiles, two tiles' frame words in registers) compiles for
    GPUs with and without cp.async, and changes the code."""
    persistent = compiler.compile_cubin(arch, defines=("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=2"))
    assert persistent[:4] == b"\x7fELF" and persistent != compiler.compile_cubin(arch)


def test_the_persistent_kernel_refuses_the_next_wave_prefetch():
    """The two options overlap (the persistent kernel requests its next tile itself): asking for both is an error
    that names why, not a build that times something else."""
    with pytest.raises(EngineBuildError, match="the persistent build requests its next tile itself"):
        compiler.compile_cubin("sm_90", use_cache=False, defines=("SK_POST_PERSISTENT=1", "SK_POST_PREFETCH_NEXT=1"))


def test_the_kernels_compile_for_gpus_without_asynchronous_copies():
    """The staged post kernel copies its raw rows to shared memory with cp.async (inline PTX, sm_80 and
    later: Orin, RTX 30/40, Hopper) and with plain loads and stores on older GPUs (a T4's sm_75)."""
    assert len({compiler.compile_cubin(arch) for arch in ("sm_75", "sm_87", "sm_90")}) == 3


def test_builds_compile_at_once_into_the_cache_that_loading_reads(tmp_path):
    """gpu_check.py compiles its builds in parallel before the GPU tests, the checks and the sweep load them: each
    lands under the key that compile_cubin (as StylizeKernels calls it) then finds, so none compiles twice."""
    builds = [(4, ()), (4, ["SK_POST_PERSISTENT=1"])]  # a list of defines, as a config might give them
    seconds = compiler.compile_builds("sm_90", builds, workers=2)
    assert len(seconds) == 2 and all(s > 0.1 for s in seconds)  # compiled, not read
    cached = sorted((tmp_path / "kernels").glob("stylize_kernels-sm_90-*.cubin"))
    assert len(cached) == 2
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    loaded = {compiler.compile_cubin("sm_90", post_rows=4), compiler.compile_cubin("sm_90", post_rows=4,
                                                                                  defines=("SK_POST_PERSISTENT=1",))}
    assert loaded == {p.read_bytes() for p in cached}
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps  # read from the cache, not written again
    again = compiler.compile_builds("sm_90", builds, workers=2)
    # Read, not compiled again: no cache file rewritten or added (a duration would depend on the machine's load).
    assert len(again) == 2
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "kernels").glob("*.cubin")} == stamps
