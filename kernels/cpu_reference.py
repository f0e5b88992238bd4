"""ctypes loader for the CPU build of the kernels' per-pixel math (cpu_reference.cpp).

Built with the system C++ compiler on first use and cached next to the other kernel
builds. Used by the tests (against NumPy/OpenCV) and by benchmarks/gpu_check.py (the
GPU kernels against it).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from kernels.launch import ORDERS

HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Where the builds go: the SDK's cache convention (sdk/cache.py), not imported from it, because
    nothing in kernels/ depends on the SDK (the SDK reads the sources from here)."""
    root = os.environ.get("STYLIZER_CACHE")
    if root:
        return Path(root) / "kernels"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylizer" / "kernels"


# The kernels reinterpret words as bytes and half pairs as words, as GPU code does; without
# -fno-strict-aliasing the host compiler may reorder such accesses.
CXX_FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-fno-strict-aliasing")


def build(source: str = "cpu_reference.cpp", include_dirs: tuple[str, ...] = (), defines: tuple[str, ...] = ()) -> Path:
    """Shared library of ``source`` (a file in kernels/), rebuilt when any kernel source changes.
    ``defines``: NAME=VALUE macros for the compiler."""
    inputs = sorted(p for p in HERE.rglob("*") if p.suffix in (".cpp", ".cu", ".cuh", ".h"))
    key = hashlib.sha256(b"\0".join([source.encode(), *(f.encode() for f in CXX_FLAGS), *(d.encode() for d in defines),
                                     *(p.read_bytes() for p in inputs)])).hexdigest()[:16]
    lib = cache_dir() / f"{Path(source).stem}-{key}.so"
    if lib.is_file():
        return lib
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        raise RuntimeError("no C++ compiler found (g++, c++ or clang++) to build the kernels' CPU reference")
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    includes = [f"-I{HERE / d}" for d in include_dirs] + [f"-D{d}" for d in defines]
    result = subprocess.run([compiler, *CXX_FLAGS, *includes, "-o", str(tmp),
                             str(HERE / source)], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{compiler} could not build kernels/{source}:\n{result.stderr.strip()}")
    os.replace(tmp, lib)
    return lib


class CpuReference:
    def __init__(self):
        self.lib = ctypes.CDLL(str(build()))
        p, l, i, f = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_float
        self.lib.preprocess_cpu.argtypes = [p, l, i, i, i, p, i, i]
        self.lib.postprocess_cpu.argtypes = [p, i, i, p, l, i, i, i, f, p, l, p, l, f, p, l]

    def preprocess(self, frame: np.ndarray, order: str, size_hw) -> np.ndarray:
        """uint8 HxWxC frame (rows may be pitched) -> (1, 3, h, w) float32 RGB in [-1, 1]."""
        assert frame.dtype == np.uint8 and frame.strides[1] == frame.shape[2] and frame.strides[2] == 1
        h, w = size_hw
        out = np.empty((1, 3, h, w), np.float32)
        self.lib.preprocess_cpu(frame.ctypes.data, frame.strides[0], frame.shape[0], frame.shape[1], ORDERS[order],
                                out.ctypes.data, h, w)
        return out

    def postprocess(self, styled: np.ndarray, frame: np.ndarray, order: str, strength: float,
                    previous: np.ndarray | None = None, temporal: float = 0.0,
                    previous_input: np.ndarray | None = None) -> np.ndarray:
        """(1, 3, h, w) float32 model output -> uint8 frame-shaped output; smoothed toward ``previous``
        (the previous output) where the frame changed little since ``previous_input``."""
        styled = np.ascontiguousarray(styled, dtype=np.float32)
        out = np.empty(frame.shape, np.uint8)
        pointers = []
        for image in (previous, previous_input):
            pointers += [image.ctypes.data, image.strides[0]] if image is not None else [None, 0]
        self.lib.postprocess_cpu(styled.ctypes.data, styled.shape[2], styled.shape[3], frame.ctypes.data,
                                 frame.strides[0], frame.shape[0], frame.shape[1], ORDERS[order], strength,
                                 *pointers, temporal, out.ctypes.data, out.strides[0])
        return out
