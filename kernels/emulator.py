"""The CUDA kernels themselves (stylize_kernels.cu) run on the CPU, thread by thread.

:class:`KernelEmulator` has the launch methods of the SDK's ``sdk.cuda.kernels.StylizeKernels``
and launches with the same grid and block (``launch_shape``), but takes host pointers
(NumPy arrays' ``.ctypes.data``). The kernel source is compiled by the host C++ compiler
against a small stand-in for ``cuda_fp16.h`` (kernels/emulation/). Slow (one thread after
another) and meant for tests on machines without a GPU.
"""
from __future__ import annotations

import ctypes

from kernels.cpu_reference import build
from kernels.launch import ORDERS, POST_ROWS_PER_THREAD, is_persistent, launch_shape, postprocess_kernel

# The persistent build's grid in the emulation: few blocks, so that each loops over several tiles and, for most
# frames, some over one more than others.
EMULATED_RESIDENT_BLOCKS = 5


class KernelEmulator:
    def __init__(self, post_rows: int = POST_ROWS_PER_THREAD, defines: tuple[str, ...] = ()):
        self.post_rows = post_rows
        self.defines = tuple(defines)
        self.resident_blocks = EMULATED_RESIDENT_BLOCKS if is_persistent(defines) else 0
        self.shared_limit = 227 * 1024  # a Hopper's, which picks the staged post kernel wherever it fits
        self.stream_waits: list[tuple[int, int]] = []  # (consumer, producer) of each wait_for_stream
        self.lib = ctypes.CDLL(str(build("kernel_emulator.cpp", include_dirs=("emulation",),
                                         defines=(f"SK_POST_ROWS={int(post_rows)}", *defines))))
        p, l, i, f, u = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_float, ctypes.c_uint
        grid = [u, u, u, u]
        self.lib.emulate_div_by_fade.argtypes, self.lib.emulate_div_by_fade.restype = [f], f
        self.lib.emulate_staged_shared_bytes.argtypes = [i, i, i, i, i]
        self.lib.emulate_staged_shared_bytes.restype = i
        post = grid + [p, i, i, p, l, i, i, i, f, p, l, p, l, f, p, l, p]
        for half in ("f32", "f16"):
            getattr(self.lib, f"emulate_preprocess_{half}").argtypes = grid + [p, l, i, i, i, p, i, i]
            getattr(self.lib, f"emulate_postprocess_{half}").argtypes = post
            getattr(self.lib, f"emulate_postprocess_staged_{half}").argtypes = post

    def div_by_fade(self, x: float) -> float:
        """The post kernel's x / SK_TEMPORAL_FADE (a reciprocal product and one FMA step)."""
        return self.lib.emulate_div_by_fade(x)

    def staged_shared_bytes(self, h: int, w: int, height: int, width: int, half: bool) -> int:
        """The staged post kernel's shared memory, as the kernel counts it, for an h x w model output
        and a height x width frame."""
        return self.lib.emulate_staged_shared_bytes(h, w, height, width, 2 if half else 4)

    def _launch(self, name: str, width: int, height: int, args: list) -> None:
        grid, block = launch_shape(name, width, height, self.post_rows, self.resident_blocks)
        getattr(self.lib, f"emulate_{name}")(grid[0], grid[1], block[0], block[1], *args)

    def preprocess(self, frame_ptr: int, pitch: int, height: int, width: int, order: str, out_ptr: int,
                   out_h: int, out_w: int, half: bool, stream: int = 0) -> None:
        """As StylizeKernels.preprocess; ``stream`` is accepted and ignored (runs at once)."""
        self._launch("preprocess_f16" if half else "preprocess_f32", out_w, out_h,
                     [frame_ptr, pitch, height, width, ORDERS[order], out_ptr, out_h, out_w])

    def postprocess(self, styled_ptr: int, h: int, w: int, frame_ptr: int, pitch: int, height: int, width: int,
                    order: str, strength: float, out_ptr: int, out_pitch: int, half: bool,
                    previous_ptr: int = 0, previous_pitch: int = 0, previous_input_ptr: int = 0,
                    previous_input_pitch: int = 0, temporal: float = 0.0, stream: int = 0,
                    params_ptr: int = 0) -> None:
        """As StylizeKernels.postprocess; ``stream`` is accepted and ignored (runs at once)."""
        self._launch(postprocess_kernel(h, w, height, width, half, self.post_rows, self.shared_limit)[0], width, height,
                     [styled_ptr, h, w, frame_ptr, pitch, height, width, ORDERS[order], strength,
                      previous_ptr or None, previous_pitch, previous_input_ptr or None, previous_input_pitch, temporal,
                      out_ptr, out_pitch, params_ptr or None])

    def wait_for_stream(self, consumer: int, producer: int) -> None:
        """As StylizeKernels.wait_for_stream: everything already ran here, so it only records the wait."""
        self.stream_waits.append((consumer, producer))

    @staticmethod
    def copy_2d(dst_ptr: int, dst_pitch: int, src_ptr: int, src_pitch: int, width_bytes: int, height: int,
                stream: int = 0) -> None:
        """As StylizeKernels.copy_2d, on host memory."""
        for row in range(height):
            ctypes.memmove(dst_ptr + row * dst_pitch, src_ptr + row * src_pitch, width_bytes)
