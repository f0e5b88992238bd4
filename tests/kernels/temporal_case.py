"""A temporal-smoothing input on which the rounding order shows (used on the CPU emulation and on a GPU).

Every pixel's input changed by 14 steps in one channel and its output by 32 in another (the most over its
channels), so its smoothing weight is (1 - 14/24) * 0.6 * (1 - 32/64): 0.125 exactly, but 0.125000015 in
float32. Moving a value n toward the previous output p by that weight lands a hair below an integer plus 0.5
wherever p - n is 4 modulo 8 and below zero. The CPU path rounds the product, the sum and the half one by one
and gets the integer above; a fused multiply-add gets the one below.
"""
import numpy as np

TEMPORAL, CHANGE, STRENGTH, OUTPUT_CHANGE = 0.6, 14, 0.7, 32


def weight() -> np.float32:
    """The smoothing weight as the CPU path computes it (frames.temporal_blend, sk::temporal_weight)."""
    fade_in = np.float32(min(max(np.float32(1) - np.float32(CHANGE) / np.float32(24), 0), 1)) * np.float32(TEMPORAL)
    return fade_in * np.float32(1 - OUTPUT_CHANGE / 64)


def inputs(rng, H: int, W: int, h: int, w: int):
    """(model output, frame, previous input) for a BGR frame."""
    frame = rng.integers(CHANGE, 256 - CHANGE, (H, W, 3), dtype=np.uint8)
    previous_input = frame.copy()
    previous_input[:, :, 1] += np.uint8(CHANGE)  # the largest change over the channels: exactly 14
    styled = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
    return styled, frame, previous_input


def previous_output(blended: np.ndarray, rng) -> np.ndarray:
    """The previous output for the frame's blended (unsmoothed) output: channel 0 exactly OUTPUT_CHANGE away,
    the others by -31 to 31 steps (clipped to the byte range, which only brings them closer)."""
    step = rng.integers(-OUTPUT_CHANGE + 1, OUTPUT_CHANGE, blended.shape).astype(np.int16)
    step[:, :, 0] = np.where(blended[:, :, 0] < 128, OUTPUT_CHANGE, -OUTPUT_CHANGE)
    return np.clip(blended.astype(np.int16) + step, 0, 255).astype(np.uint8)


def fused(blended: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """What one rounding of n + (p - n) * weight + 0.5 gives (float64 arithmetic: exact for these values)."""
    n = blended.astype(np.float64)
    return np.floor(n + (previous.astype(np.float64) - n) * np.float64(weight()) + 0.5).astype(np.uint8)
