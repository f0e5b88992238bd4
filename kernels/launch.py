"""The kernels' launch contract: pixel orders, block and grid shapes, shared memory, which post kernel.

Pure arithmetic that must agree with stylize_kernels.cu, so it lives beside it: the SDK's launchers
(sdk/cuda/kernels.py) and the CPU emulation (emulator.py) both import it, and nothing here imports the SDK.
"""
from __future__ import annotations

import numpy as np

ORDERS = {"bgr": 0, "rgb": 1, "bgra": 2, "rgba": 3}
BLOCK = (32, 8)
# Pixels a thread writes, as in stylize_kernels.cu: PRE_PIXELS of a row; PIXELS x ROWS.
PRE_PIXELS_PER_THREAD = 4
POST_PIXELS_PER_THREAD, POST_ROWS_PER_THREAD = 4, 8


PERSISTENT_DEFINE = "SK_POST_PERSISTENT=1"


def is_persistent(defines: tuple[str, ...]) -> bool:
    """Whether a build's compile options make the staged post kernel persistent (stylize_kernels.cu says why)."""
    return any(d.replace(" ", "") == PERSISTENT_DEFINE for d in defines)


def launch_shape(name: str, width: int, height: int, post_rows: int = POST_ROWS_PER_THREAD,
                 resident_blocks: int = 0) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Grid and block of a kernel for a ``width`` x ``height`` output; shared with the CPU emulation
    (kernels/emulator.py) so that it runs the kernels with the geometry the GPU gets. A block a tile, except
    for the persistent build's staged post kernel (``resident_blocks`` > 0: the blocks the GPU holds at
    once), which gets a one-dimensional grid of at most that many blocks, each looping over tiles."""
    if name.startswith("preprocess"):
        width = (width + PRE_PIXELS_PER_THREAD - 1) // PRE_PIXELS_PER_THREAD
    else:
        width = (width + POST_PIXELS_PER_THREAD - 1) // POST_PIXELS_PER_THREAD
        height = (height + post_rows - 1) // post_rows
    grid = ((width + BLOCK[0] - 1) // BLOCK[0], (height + BLOCK[1] - 1) // BLOCK[1], 1)
    if resident_blocks > 0 and name.startswith("postprocess_staged"):
        grid = (min(grid[0] * grid[1], resident_blocks), 1, 1)
    return grid, (BLOCK[0], BLOCK[1], 1)


def staged_shared_bytes(h: int, w: int, height: int, width: int, half: bool,
                        post_rows: int = POST_ROWS_PER_THREAD) -> int:
    """Dynamic shared memory of a staged post kernel launch, computed with the kernel's float32
    arithmetic (stylize_kernels.cu: staged_shared_bytes): stage_capacity() rows, each of BLOCK[0] thread
    columns of POST_PIXELS_PER_THREAD RGB floats plus three planes of raw_capacity() model output values,
    and a 16-byte vertical tap (RowTap) for each of the block's BLOCK[1] * post_rows output rows."""
    f32 = np.float32
    rows = int(np.ceil(f32(BLOCK[1] * post_rows - 1) * (f32(h) / f32(height)))) + 3
    columns = (int(np.ceil(f32(BLOCK[0] * POST_PIXELS_PER_THREAD - 1) * (f32(w) / f32(width)))) + 8) & ~1
    return rows * (BLOCK[0] * POST_PIXELS_PER_THREAD * 3 * 4 + 3 * columns * (2 if half else 4)) + BLOCK[1] * post_rows * 16


def postprocess_kernel(h: int, w: int, height: int, width: int, half: bool, post_rows: int = POST_ROWS_PER_THREAD,
                       shared_limit: int = 48 * 1024) -> tuple[str, int]:
    """The post kernel for an h x w model output and a height x width frame, and its dynamic shared
    memory: the staged kernel where the output is no larger than the frame in either direction
    (every working size the SDK picks) and its shared memory fits in ``shared_limit`` bytes, else the
    direct one (stylize_kernels.cu says why)."""
    dtype = "f16" if half else "f32"
    if h <= height and w <= width:
        shared = staged_shared_bytes(h, w, height, width, half, post_rows)
        if shared <= shared_limit:
            return f"postprocess_staged_{dtype}", shared
    return f"postprocess_{dtype}", 0
