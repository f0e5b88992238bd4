"""Load the compiled pre/post kernels into the current CUDA context and launch them.

Works on any device pointers (torch, CuPy, pycuda, Numba arrays through
``__cuda_array_interface__``) and any stream handle. Every driver call's result is checked;
a sticky error (illegal address, launch failure) raises :class:`CudaFatalError`, because
the process's CUDA context is unusable afterwards and only a restart helps.
"""
from __future__ import annotations

import ctypes

import numpy as np

# The launch contract lives beside the kernel source (kernels/launch.py); re-exported so callers keep one import.
from kernels.launch import (BLOCK, ORDERS, PERSISTENT_DEFINE, POST_PIXELS_PER_THREAD, POST_ROWS_PER_THREAD,  # noqa: F401
                            PRE_PIXELS_PER_THREAD, is_persistent, launch_shape, postprocess_kernel, staged_shared_bytes)
from sdk.cuda.compiler import KERNEL_NAMES, compile_cubin
from sdk.errors import BackendUnavailableError, CudaFatalError


def _driver():
    try:
        from cuda.bindings import driver
    except ImportError as exc:
        raise BackendUnavailableError(f"cuda.bindings is not importable ({exc}); `pip install cuda-bindings`") from None
    return driver


_STICKY = {"CUDA_ERROR_ILLEGAL_ADDRESS", "CUDA_ERROR_LAUNCH_FAILED", "CUDA_ERROR_HARDWARE_STACK_ERROR",
           "CUDA_ERROR_ILLEGAL_INSTRUCTION", "CUDA_ERROR_MISALIGNED_ADDRESS", "CUDA_ERROR_INVALID_PC",
           "CUDA_ERROR_ECC_UNCORRECTABLE"}


def check(result, what: str):
    """Unpack a cuda.bindings result tuple, raising on an error code."""
    driver = _driver()
    err = result[0]
    if err != driver.CUresult.CUDA_SUCCESS:
        name = err.name
        if name in _STICKY:
            raise CudaFatalError(f"{what}: {name}. The CUDA context is unusable; restart the process.")
        raise RuntimeError(f"{what}: {name}")
    return result[1] if len(result) == 2 else (result[1:] if len(result) > 2 else None)


def device_arch(device: int = 0) -> str:
    driver = _driver()
    check(driver.cuInit(0), "cuInit")
    dev = check(driver.cuDeviceGet(device), "cuDeviceGet")
    major = check(driver.cuDeviceGetAttribute(
        driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), "compute capability")
    minor = check(driver.cuDeviceGetAttribute(
        driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), "compute capability")
    return f"sm_{major}{minor}"


class StylizeKernels:
    """The kernels, loaded into the primary context of ``device`` (the one torch and CuPy use).
    ``post_rows``: output rows per postprocess thread, a compile-time constant of the kernels;
    ``defines``: other NAME=VALUE compile options of theirs (benchmarks/gpu_check.py times some; with
    SK_POST_PERSISTENT=1 the staged post kernel is launched with as many blocks as the GPU holds at once)."""

    def __init__(self, device: int = 0, post_rows: int = POST_ROWS_PER_THREAD, defines: tuple[str, ...] = ()):
        driver = _driver()
        self._driver = driver
        self._module = None
        self._retained = None  # the device whose primary context this object retained, to release at close
        self._wait_event = None  # made by the first wait_for_stream
        check(driver.cuInit(0), "cuInit")
        dev = check(driver.cuDeviceGet(device), "cuDeviceGet")
        if int(check(driver.cuCtxGetCurrent(), "cuCtxGetCurrent")) == 0:
            self._ctx = check(driver.cuDevicePrimaryCtxRetain(dev), "cuDevicePrimaryCtxRetain")
            self._retained = dev
            check(driver.cuCtxSetCurrent(self._ctx), "cuCtxSetCurrent")
        self.arch = device_arch(device)
        self.post_rows = post_rows
        self.defines = tuple(defines)
        self.persistent = is_persistent(self.defines)
        self._device = dev
        self._resident_blocks: dict[tuple[str, int], int] = {}  # (kernel, dynamic shared bytes) -> blocks at once
        cubin = compile_cubin(self.arch, post_rows=post_rows, defines=self.defines)
        self._cubin = np.frombuffer(cubin, np.uint8).copy()  # the driver reads it during load
        self._module = check(driver.cuModuleLoadData(self._cubin.ctypes.data), "cuModuleLoadData")
        self._functions = {name: check(driver.cuModuleGetFunction(self._module, name.encode()), f"get {name}")
                           for name in KERNEL_NAMES}
        # The staged post kernel's rows live in dynamic shared memory; past 48 KB a kernel must opt in.
        self.shared_limit = int(check(driver.cuDeviceGetAttribute(
            driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev), "shared memory"))
        for name in KERNEL_NAMES:
            if "staged" in name:
                check(driver.cuFuncSetAttribute(
                    self._functions[name], driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    self.shared_limit), f"shared memory of {name}")

    def close(self) -> None:
        """Unload the module and release the primary context if this object retained it. Call it when
        no launched work is pending (the backends synchronize first); a second call does nothing."""
        driver = self._driver
        if self._wait_event is not None:
            event, self._wait_event = self._wait_event, None
            check(driver.cuEventDestroy(event), "cuEventDestroy")
        if self._module is not None:
            module, self._module, self._functions = self._module, None, {}
            check(driver.cuModuleUnload(module), "cuModuleUnload")
        if self._retained is not None:
            device, self._retained = self._retained, None
            check(driver.cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease")

    def __enter__(self) -> "StylizeKernels":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def resident_blocks(self, name: str, shared: int) -> int:
        """Blocks of kernel ``name`` with ``shared`` bytes of dynamic shared memory that the GPU holds at once
        (the occupancy calculator's blocks an SM times the SMs)."""
        key = (name, shared)
        if key not in self._resident_blocks:
            driver = self._driver
            sms = check(driver.cuDeviceGetAttribute(
                driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, self._device), "multiprocessor count")
            per_sm = check(driver.cuOccupancyMaxActiveBlocksPerMultiprocessor(
                self._functions[name], BLOCK[0] * BLOCK[1], shared), f"occupancy of {name}")
            self._resident_blocks[key] = max(1, int(per_sm)) * int(sms)
        return self._resident_blocks[key]

    def _launch(self, name: str, width: int, height: int, stream: int, args: list, shared: int = 0) -> None:
        if self._module is None:
            raise RuntimeError(f"launch {name}: these kernels were closed; create a new StylizeKernels")
        params = np.array([ctypes.addressof(a) for a in args], dtype=np.uint64)
        resident = self.resident_blocks(name, shared) if self.persistent and name.startswith("postprocess_staged") else 0
        grid, block = launch_shape(name, width, height, self.post_rows, resident)
        check(self._driver.cuLaunchKernel(self._functions[name], *grid, *block, shared, stream,
                                          params.ctypes.data, 0), f"launch {name}")

    def preprocess(self, frame_ptr: int, pitch: int, height: int, width: int, order: str, out_ptr: int,
                   out_h: int, out_w: int, half: bool, stream: int = 0) -> None:
        """uint8 HWC frame -> (1, 3, out_h, out_w) RGB [-1, 1], float16 if ``half`` else float32."""
        args = [ctypes.c_void_p(frame_ptr), ctypes.c_long(pitch), ctypes.c_int(height), ctypes.c_int(width),
                ctypes.c_int(ORDERS[order]), ctypes.c_void_p(out_ptr), ctypes.c_int(out_h), ctypes.c_int(out_w)]
        self._launch("preprocess_f16" if half else "preprocess_f32", out_w, out_h, stream, args)

    def postprocess(self, styled_ptr: int, h: int, w: int, frame_ptr: int, pitch: int, height: int, width: int,
                    order: str, strength: float, out_ptr: int, out_pitch: int, half: bool,
                    previous_ptr: int = 0, previous_pitch: int = 0, previous_input_ptr: int = 0,
                    previous_input_pitch: int = 0, temporal: float = 0.0, stream: int = 0,
                    params_ptr: int = 0) -> None:
        """(1, 3, h, w) model output -> uint8 HWC frame-sized output, blended by strength; smoothed
        toward the previous output (``previous_ptr``) by ``temporal`` where the input changed little
        since the previous input (``previous_input_ptr``), as ``sdk.frames.temporal_blend`` does.
        ``params_ptr``: two float32 in device memory (strength, temporal) read instead of the values,
        so that a captured CUDA graph can be replayed with new ones."""
        args = [ctypes.c_void_p(styled_ptr), ctypes.c_int(h), ctypes.c_int(w), ctypes.c_void_p(frame_ptr),
                ctypes.c_long(pitch), ctypes.c_int(height), ctypes.c_int(width), ctypes.c_int(ORDERS[order]),
                ctypes.c_float(strength), ctypes.c_void_p(previous_ptr), ctypes.c_long(previous_pitch),
                ctypes.c_void_p(previous_input_ptr), ctypes.c_long(previous_input_pitch),
                ctypes.c_float(temporal), ctypes.c_void_p(out_ptr), ctypes.c_long(out_pitch),
                ctypes.c_void_p(params_ptr)]
        name, shared = postprocess_kernel(h, w, height, width, half, self.post_rows, self.shared_limit)
        self._launch(name, width, height, stream, args, shared)

    def wait_for_stream(self, consumer: int, producer: int) -> None:
        """Make stream ``consumer`` wait for the work enqueued so far on ``producer``: any stream handle,
        including the special ones the CUDA array interface names (1: legacy default stream, 2:
        per-thread default stream), which torch.cuda.ExternalStream refuses ("invalid StreamId")."""
        driver = self._driver
        if self._wait_event is None:  # one event serves every wait: a wait takes the event's state when enqueued
            self._wait_event = check(driver.cuEventCreate(driver.CUevent_flags.CU_EVENT_DISABLE_TIMING),
                                     "cuEventCreate")
        check(driver.cuEventRecord(self._wait_event, producer), "cuEventRecord")
        check(driver.cuStreamWaitEvent(consumer, self._wait_event, 0), "cuStreamWaitEvent")

    def copy_2d(self, dst_ptr: int, dst_pitch: int, src_ptr: int, src_pitch: int, width_bytes: int, height: int,
                stream: int = 0) -> None:
        """Device-to-device copy of ``height`` rows of ``width_bytes``, each side with its own pitch."""
        driver = self._driver
        copy = driver.CUDA_MEMCPY2D()
        copy.srcMemoryType = copy.dstMemoryType = driver.CUmemorytype.CU_MEMORYTYPE_DEVICE
        copy.srcDevice, copy.srcPitch = src_ptr, src_pitch
        copy.dstDevice, copy.dstPitch = dst_ptr, dst_pitch
        copy.WidthInBytes, copy.Height = width_bytes, height
        check(driver.cuMemcpy2DAsync(copy, stream), "cuMemcpy2DAsync")
