"""The kernels' per-pixel math, built for the CPU, against NumPy/OpenCV (within 1 uint8 step)."""
import cv2
import numpy as np
import pytest

from kernels.cpu_reference import CpuReference
from sdk import frames
from tests.conftest import TOLERANCE

SIZES = [((129, 237), (128, 236)), ((360, 640), (360, 640)), ((1080, 1920), (720, 1280)), ((50, 31), (100, 64)),
         ((1, 1), (16, 16))]


@pytest.fixture(scope="module")
def ref():
    return CpuReference()


def _frame(shape, order, seed=0):
    rng = np.random.default_rng(seed)
    channels = 4 if order.endswith("a") else 3
    return rng.integers(0, 256, (*shape, channels), dtype=np.uint8)


@pytest.mark.parametrize("order", ["bgr", "rgb", "bgra", "rgba"])
@pytest.mark.parametrize("frame_hw,work_hw", SIZES)
def test_preprocess_matches_opencv_resize_within_one_step(ref, order, frame_hw, work_hw):
    frame = _frame(frame_hw, order)
    got = ref.preprocess(frame, order, work_hw)
    base = "bgr" if order.startswith("bgr") else "rgb"
    want = frames.preprocess(np.ascontiguousarray(frame[:, :, :3]), work_hw, base)
    assert got.shape == (1, 3, *work_hw) and got.dtype == np.float32
    # OpenCV's uint8 resize rounds to uint8 (and uses fixed-point weights); ours stays float.
    assert np.abs(got - want).max() * 127.5 <= TOLERANCE["uint8_lsb"] + 1e-3


def test_preprocess_reads_pitched_rows(ref):
    wide = _frame((64, 100), "bgr")
    frame = wide[:, :80]  # rows 300 bytes apart, 240 used
    assert frame.strides[0] == 300
    np.testing.assert_array_equal(ref.preprocess(frame, "bgr", (32, 40)),
                                  ref.preprocess(np.ascontiguousarray(frame), "bgr", (32, 40)))


def numpy_post(styled, frame, order, strength):
    """Float reference: denormalize+clamp per plane, cv2 bilinear (float) to the frame size, blend, round."""
    H, W = frame.shape[:2]
    planes = [cv2.resize(np.clip((styled[0, c] + 1) * 127.5, 0, 255), (W, H), interpolation=cv2.INTER_LINEAR)
              for c in range(3)]
    rgb = np.stack(planes, axis=2)
    styled_hwc = rgb[:, :, ::-1] if order.startswith("bgr") else rgb
    original = frame[:, :, :3].astype(np.float32)
    v = original + (styled_hwc - original) * strength
    out = np.floor(np.clip(v, 0, 255) + 0.5).astype(np.uint8)
    return np.concatenate([out, frame[:, :, 3:]], axis=2) if frame.shape[2] == 4 else out


@pytest.mark.parametrize("order", ["bgr", "rgb", "bgra", "rgba"])
@pytest.mark.parametrize("frame_hw,work_hw", SIZES)
def test_postprocess_matches_numpy_within_one_step(ref, order, frame_hw, work_hw):
    rng = np.random.default_rng(1)
    frame = _frame(frame_hw, order, seed=2)
    styled = rng.uniform(-1.1, 1.1, (1, 3, *work_hw)).astype(np.float32)  # beyond [-1, 1]: tests the clamp
    got = ref.postprocess(styled, frame, order, 0.7)
    want = numpy_post(styled, frame, order, 0.7)
    assert got.shape == frame.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= TOLERANCE["uint8_lsb"]
    if order.endswith("a"):
        np.testing.assert_array_equal(got[:, :, 3], frame[:, :, 3])


def changed_input(frame, rng):
    """The frame as the previous input: left third unchanged, middle third off by up to 10 uint8 steps
    (smoothing fades part way), right third off by 40 or more (no smoothing: over frames.TEMPORAL_FADE)."""
    previous = frame.astype(np.int16)
    third = frame.shape[1] // 3
    previous[:, third:2 * third, :3] += rng.integers(-10, 11, previous[:, third:2 * third, :3].shape).astype(np.int16)
    previous[:, 2 * third:, 0] += np.where(previous[:, 2 * third:, 0] < 128, 40, -40).astype(np.int16)
    return np.clip(previous, 0, 255).astype(np.uint8), third


@pytest.mark.parametrize("order", ["bgr", "rgb", "bgra", "rgba"])
@pytest.mark.parametrize("temporal", [0.3, 0.95])
def test_temporal_smoothing_is_the_sdks_temporal_blend(ref, order, temporal):
    """The kernels smooth exactly as the CPU path does (sdk.frames.temporal_blend after the blend)."""
    rng = np.random.default_rng(4)
    frame = _frame((45, 99), order, seed=5)
    previous_input, third = changed_input(frame, rng)
    styled = rng.uniform(-1, 1, (1, 3, 44, 100)).astype(np.float32)
    plain = ref.postprocess(styled, frame, order, 0.7)
    # The previous output: this one's give or take the generator's noise (up to 20 steps), and in the last 15 rows
    # 64 or more steps away in one channel (a line drawn or erased: over frames.OUTPUT_FADE, no smoothing).
    previous = plain.astype(np.int16)
    previous[:, :, :3] += rng.integers(-20, 21, previous[:, :, :3].shape).astype(np.int16)
    previous[30:, :, 1] = np.where(plain[30:, :, 1] < 128, plain[30:, :, 1].astype(np.int16) + 64 + 10,
                                   plain[30:, :, 1].astype(np.int16) - 64 - 10)
    previous = np.clip(previous, 0, 255).astype(np.uint8)
    got = ref.postprocess(styled, frame, order, 0.7, previous, temporal, previous_input)
    want = frames.temporal_blend(plain[:, :, :3], previous[:, :, :3], frame[:, :, :3], previous_input[:, :, :3],
                                 temporal)
    np.testing.assert_array_equal(got[:, :, :3], want)
    np.testing.assert_array_equal(got[:, :, 3:], frame[:, :, 3:])  # alpha passes through
    np.testing.assert_array_equal(got[:, 2 * third:], plain[:, 2 * third:])  # moved: no smoothing
    np.testing.assert_array_equal(got[30:], plain[30:])  # the output moved: no smoothing
    assert (got[:30, :third] != plain[:30, :third]).mean() > 0.5  # still: smoothed
    assert np.array_equal(ref.postprocess(styled, frame, order, 0.7, previous, temporal), plain), \
        "without the previous input there is no smoothing"


def test_strength_zero_is_the_original_frame(ref):
    frame = _frame((37, 53), "bgr")
    styled = np.random.default_rng(0).uniform(-1, 1, (1, 3, 40, 52)).astype(np.float32)
    np.testing.assert_array_equal(ref.postprocess(styled, frame, "bgr", 0.0), frame)
