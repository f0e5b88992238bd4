"""Compile the kernels package's stylize_kernels.cu with NVRTC for one GPU architecture, cached on disk.

NVRTC runs without a GPU, so CI compiles for every target (sm_86/87/89/90) on a CPU-only
machine. ``cuda_fp16.h`` is not shipped with the NVRTC wheel: it is looked up in the
``nvidia-cuda-runtime`` wheel, then ``$CUDA_HOME/include`` and ``/usr/local/cuda/include``.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import os
import sys
import time
from pathlib import Path

from sdk.cache import cache_root, write_atomic
from sdk.errors import BackendUnavailableError, EngineBuildError

# The CUDA sources are package data of the `kernels` package (a folder in a checkout, installed beside sdk).
KERNEL_DIR = Path(str(importlib.resources.files("kernels")))
SOURCE = "stylize_kernels.cu"
HEADERS = ("pixel_math.cuh",)
KERNEL_NAMES = ("preprocess_f32", "preprocess_f16", "postprocess_f32", "postprocess_f16",
                "postprocess_staged_f32", "postprocess_staged_f16")
INSTALL_HINT = ("install cuda-python's NVRTC with `pip install cuda-bindings nvidia-cuda-nvrtc nvidia-cuda-runtime` "
                "(or the project's `cuda` extra)")


def cache_dir() -> Path:
    return cache_root() / "kernels"


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        raise BackendUnavailableError(f"cuda.bindings.nvrtc is not importable ({exc}); {INSTALL_HINT}") from None
    return nvrtc


def fp16_include_dirs() -> list[str]:
    """Folders holding cuda_fp16.h, first match first."""
    candidates = []
    for entry in sys.path:
        candidates += [Path(entry) / "nvidia" / sub / "include" for sub in ("cu13", "cu12", "cuda_runtime")]
    for env in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(env):
            candidates.append(Path(os.environ[env]) / "include")
    candidates += [Path("/usr/local/cuda/include")]
    return [str(p) for p in candidates if (p / "cuda_fp16.h").is_file()][:1]


def _check(result, what: str, program=None):
    nvrtc = _nvrtc()
    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        log = ""
        if program is not None:
            _, size = nvrtc.nvrtcGetProgramLogSize(program)
            buf = b" " * size
            nvrtc.nvrtcGetProgramLog(program, buf)
            log = buf.decode(errors="replace").strip()
        raise EngineBuildError(f"NVRTC {what} failed: {err.name}\n{log}")
    return result[1:] if len(result) > 2 else (result[1] if len(result) == 2 else None)


def nvrtc_version() -> str:
    major, minor = _check(_nvrtc().nvrtcVersion(), "version")
    return f"{major}.{minor}"


def compile_cubin(arch: str, use_cache: bool = True, post_rows: int = 8, defines: tuple[str, ...] = ()) -> bytes:
    """CUBIN of the kernels for ``arch`` (e.g. "sm_90"); compiled once, then read from the cache.
    ``post_rows``: output rows per postprocess thread (SK_POST_ROWS); ``defines``: other NAME=VALUE
    macros of the kernels (SK_POST_MIN_BLOCKS)."""
    nvrtc = _nvrtc()
    source = (KERNEL_DIR / SOURCE).read_bytes()
    headers = [(KERNEL_DIR / h).read_bytes() for h in HEADERS]
    includes = fp16_include_dirs()
    if not includes:
        raise BackendUnavailableError("cuda_fp16.h was not found (NVRTC needs it to compile the kernels); "
                                      "install it with `pip install nvidia-cuda-runtime` or set CUDA_HOME")
    macros = [f"-DSK_POST_ROWS={int(post_rows)}".encode(), *(f"-D{d}".encode() for d in defines)]
    key = hashlib.sha256(b"\0".join([source, *headers, arch.encode(), nvrtc_version().encode(), *macros])).hexdigest()[:24]
    cached = cache_dir() / f"stylize_kernels-{arch}-{key}.cubin"
    if use_cache and cached.is_file():
        return cached.read_bytes()
    program = _check(nvrtc.nvrtcCreateProgram(source, SOURCE.encode(), len(headers), headers,
                                              [h.encode() for h in HEADERS]), "create program")
    try:
        options = [f"--gpu-architecture={arch}".encode(), b"--std=c++17", b"-default-device", *macros,
                   *(f"--include-path={d}".encode() for d in includes)]
        result = nvrtc.nvrtcCompileProgram(program, len(options), options)
        _check(result, f"compile for {arch}", program)
        size = _check(nvrtc.nvrtcGetCUBINSize(program), "cubin size")
        cubin = b" " * size
        _check(nvrtc.nvrtcGetCUBIN(program, cubin), "get cubin")
    finally:
        nvrtc.nvrtcDestroyProgram(program)
    if use_cache:
        write_atomic(cached, cubin)
    return cubin


def _timed_compile(arch: str, build: tuple[int, tuple[str, ...]]) -> float:
    _nvrtc()  # the import, outside the time
    start = time.perf_counter()
    compile_cubin(arch, post_rows=build[0], defines=tuple(build[1]))
    return time.perf_counter() - start


def compile_builds(arch: str, builds, workers: int | None = None) -> list[float]:
    """Compile several builds ((post_rows, defines) each) for ``arch`` into the cache, in up to ``workers`` processes
    (default: the cores), and return each one's seconds (about 0 where it was cached). NVRTC compiles one build on
    one core; a GPU check that loads nine builds one after another waits a minute of scarce device time for them."""
    import multiprocessing  # here, not at import: only the GPU check compiles builds in bulk
    from concurrent.futures import ProcessPoolExecutor

    builds = [(int(rows), tuple(defines)) for rows, defines in builds]
    workers = max(1, min(len(builds), workers or os.cpu_count() or 1))
    # spawn, not fork: the caller may hold a CUDA context, which a forked child must not touch.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_timed_compile, [arch] * len(builds), builds))
