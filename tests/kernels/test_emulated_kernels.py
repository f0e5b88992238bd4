"""The CUDA kernels' own code, run on the CPU (kernels/emulator.py), against the CPU reference.

test_cpu_reference.py checks the shared per-pixel math; this checks the rest of each kernel:
thread indexing, the post kernel's row tails and word/byte paths, pitched and misaligned rows,
and that every output element is written (outputs are poisoned first), with the launch
geometry the GPU gets. Tolerance: one uint8 step, as benchmarks/gpu_check.py asks of the GPU.
"""
import numpy as np
import pytest

from kernels.cpu_reference import CpuReference
from kernels.emulator import KernelEmulator
from tests.conftest import TOLERANCE

ORDERS = ["bgr", "rgb", "bgra", "rgba"]


@pytest.fixture(scope="module")
def emulator():
    return KernelEmulator()


@pytest.fixture(scope="module")
def ref():
    return CpuReference()


def strided_frame(rng, H, W, channels, pad=0, offset=0):
    """A random uint8 H x W x C frame whose rows are W*C + pad bytes apart, starting `offset` bytes into
    its buffer (pad or offset not a multiple of 4 sends the post kernel down its byte path)."""
    pitch = W * channels + pad
    buffer = rng.integers(0, 256, H * pitch + offset, dtype=np.uint8)
    return np.ndarray((H, W, channels), np.uint8, buffer, offset=offset, strides=(pitch, channels, 1))


def run_pre(emulator, frame, order, h, w, half):
    out = np.full((1, 3, h, w), np.nan, np.float16 if half else np.float32)  # unwritten stays NaN
    emulator.preprocess(frame.ctypes.data, frame.strides[0], frame.shape[0], frame.shape[1], order,
                        out.ctypes.data, h, w, half)
    return out


def run_post(emulator, styled, frame, order, strength, previous, previous_input, temporal, out_pad, poison):
    H, W, C = frame.shape
    buffer = np.full((H, W * C + out_pad), poison, np.uint8)
    out = buffer[:, : W * C].reshape(H, W, C) if out_pad == 0 else np.ndarray(
        (H, W, C), np.uint8, buffer, strides=(W * C + out_pad, C, 1))
    emulator.postprocess(styled.ctypes.data, styled.shape[2], styled.shape[3], frame.ctypes.data, frame.strides[0],
                         H, W, order, strength, out.ctypes.data, out.strides[0], styled.dtype == np.float16,
                         previous.ctypes.data if previous is not None else 0,
                         previous.strides[0] if previous is not None else 0,
                         previous_input.ctypes.data if previous_input is not None else 0,
                         previous_input.strides[0] if previous_input is not None else 0, temporal)
    return out


def check(emulator, ref, frame_hw, work_hw, order, half, pad=0, offset=0, temporal=0.0, seed=0):
    rng = np.random.default_rng(seed)
    (H, W), (h, w) = frame_hw, work_hw
    channels = 4 if order.endswith("a") else 3
    frame = strided_frame(rng, H, W, channels, pad, offset)
    pre = run_pre(emulator, frame, order, h, w, half)
    assert np.isfinite(pre).all(), "preprocess left output elements unwritten"
    pre_err = np.abs(pre.astype(np.float32) - ref.preprocess(frame, order, (h, w))).max() * 127.5
    assert pre_err <= TOLERANCE["uint8_lsb"], f"preprocess off by {pre_err:.3f} uint8 steps"

    styled = rng.uniform(-1.05, 1.05, (1, 3, h, w)).astype(np.float16 if half else np.float32)  # tests the clamp
    previous, previous_input = None, None
    if temporal:  # the previous input: the frame, changed by 0 to 30 steps (smoothing partly faded)
        previous = strided_frame(rng, H, W, channels, pad, offset)
        previous_input = strided_frame(rng, H, W, channels, pad, offset)
        previous_input[...] = np.clip(frame + rng.integers(-15, 16, frame.shape), 0, 255)
    outs = [run_post(emulator, styled, frame, order, 0.7, previous, previous_input, temporal, pad, poison)
            for poison in (0, 255)]
    np.testing.assert_array_equal(outs[0], outs[1], err_msg="postprocess left output bytes unwritten")
    want = ref.postprocess(styled.astype(np.float32), frame, order, 0.7, previous, temporal, previous_input)
    post_err = int(np.abs(outs[0].astype(int) - want.astype(int)).max())
    assert post_err <= TOLERANCE["uint8_lsb"], f"postprocess off by {post_err} uint8 steps"
    if channels == 4:
        np.testing.assert_array_equal(outs[0][:, :, 3], frame[:, :, 3])  # alpha passes through
    return pre_err, post_err


@pytest.mark.parametrize("half", [False, True], ids=["f32", "f16"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("frame_hw,work_hw", [
    ((129, 237), (128, 236)),  # odd frame: the post kernel's last thread of each row takes the tail path
    ((129, 237), (129, 237)),  # odd working width: unpaired last pixel and misaligned pairs in preprocess
    ((1080, 1920), (720, 1280)),  # the 1080p camera case
    ((50, 31), (100, 64)),  # working size above the frame (downscale in post)
    ((1, 1), (16, 16)),
    ((3, 7), (16, 16)),  # every row shorter than one post thread's four pixels plus a tail
])
def test_kernels_match_the_cpu_reference(emulator, ref, frame_hw, work_hw, order, half):
    check(emulator, ref, frame_hw, work_hw, order, half)


@pytest.mark.parametrize("frame_hw,work_hw", [((1, 1), (1, 1)), ((2, 5), (1, 3)), ((7, 3), (2, 2)),
                                               ((65, 129), (33, 2)), ((3, 300), (1, 150))])
def test_tiny_and_thin_frames_on_the_staged_kernel(emulator, ref, frame_hw, work_hw):
    """Upscales from one row or column, and frames shorter than a thread's rows (the two-row loop's exits)."""
    from sdk.cuda.kernels import postprocess_kernel
    assert postprocess_kernel(*work_hw, *frame_hw, True, emulator.post_rows, emulator.shared_limit)[0] == \
        "postprocess_staged_f16"
    for order in ("bgr", "rgba"):
        check(emulator, ref, frame_hw, work_hw, order, half=True, temporal=0.3)
        check(emulator, ref, frame_hw, work_hw, order, half=False)


@pytest.mark.parametrize("post_rows,defines", [(1, ()), (3, ()), (4, ()), (8, ()), (4, ("SK_POST_MIN_BLOCKS=4",)),
                                              (8, ("SK_POST_PREFETCH_NEXT=1",)), (8, ("SK_POST_PERSISTENT=1",)),
                                              (3, ("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=2"))])
@pytest.mark.parametrize("frame_hw,work_hw", [((129, 237), (128, 236)), ((50, 31), (100, 64)), ((3, 7), (16, 16))])
def test_other_tile_heights(ref, post_rows, defines, frame_hw, work_hw):
    """gpu_check.py times several builds of the post kernels: each is correct (the first and last sizes
    run the staged kernel, the middle one, a downscale, the direct kernel)."""
    emulator = KernelEmulator(post_rows=post_rows, defines=defines)
    check(emulator, ref, frame_hw, work_hw, "bgr", half=True, temporal=0.4)
    check(emulator, ref, frame_hw, work_hw, "rgba", half=False)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("pad,offset", [(64, 0), (1, 0), (0, 1), (3, 2)],
                         ids=["pitch64", "pitch+1", "base+1", "pitch+3,base+2"])
def test_pitched_and_misaligned_rows(emulator, ref, order, pad, offset):
    check(emulator, ref, (37, 61), (36, 60), order, half=True, pad=pad, offset=offset, temporal=0.3)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("temporal", [0.0, 0.3, 0.95])
def test_temporal_blend_with_the_previous_output(emulator, ref, order, temporal):
    check(emulator, ref, (360, 640), (360, 640), order, half=False, temporal=temporal)


@pytest.mark.parametrize("kernel,message", [("post", "postprocess left output bytes unwritten"),
                                            ("pre", "preprocess left output elements unwritten")])
def test_a_wrong_kernel_is_caught(emulator, ref, monkeypatch, kernel, message):
    """The check can fail: a launch one row short (129 rows, blocks of 8 rows) leaves the last row unwritten."""
    import kernels.emulator as module

    real = module.launch_shape
    monkeypatch.setattr(module, "launch_shape",
                        lambda name, w, h, rows, *resident: real(name, w, h - 1 if kernel in name else h, rows))
    with pytest.raises(AssertionError, match=message):
        check(emulator, ref, (129, 237), (129, 236), "bgr", half=False)


def test_gpu_check_kernel_checks_run_here_on_the_emulation():
    """benchmarks/gpu_check.py's correctness section, run on the CPU: a mistake in it is found here,
    not in a GPU session's few minutes."""
    pytest.importorskip("torch")
    from benchmarks.gpu_check import check_kernels

    rows = check_kernels(KernelEmulator(), CpuReference(), np.random.default_rng(0), device="cpu",
                         sizes=((129, 237), (40, 64)))
    assert len(rows) == 2 * 4 * 2 and all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]
    assert {r["temporal"] for r in rows} == {0.0, 0.3}
    # the new column: a fraction, and small for kernels that round as the CPU path does (1e-6 to 4e-6 at 1080p)
    assert all(0.0 <= r["post_off_by_one_fraction"] <= 1e-3 for r in rows), [r["post_off_by_one_fraction"] for r in rows]


@pytest.mark.parametrize("post_rows,defines", [(8, ("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=2")),
                                              (4, ("SK_POST_PERSISTENT=1", "SK_POST_MIN_BLOCKS=3"))])
def test_gpu_check_build_checks_run_here_on_the_emulation(ref, post_rows, defines):
    """gpu_check.py's check of the other builds it times, run on the CPU on the persistent ones: five blocks take
    the tiles in turn, some one more than others (6 tiles at 8 rows, 10 at 4 on the 129-row frame)."""
    pytest.importorskip("torch")
    from benchmarks.gpu_check import POST_BUILDS, check_post_build

    assert (post_rows, defines) in POST_BUILDS
    emulator = KernelEmulator(post_rows=post_rows, defines=defines)
    assert emulator.resident_blocks == 5
    rows = check_post_build(emulator, ref, np.random.default_rng(0), device="cpu",
                            cases=(((129, 237), (72, 128), "bgr", True, 0.4), ((70, 300), (36, 152), "rgba", False, 0.0)))
    assert [r["ok"] for r in rows] == [True, True], rows
    assert rows[0]["defines"] == " ".join(defines) and rows[0]["temporal"] == 0.4


@pytest.mark.parametrize("value,styled_level", [(np.nan, 0.0), (-np.inf, 0.0), (np.inf, 255.0)])
@pytest.mark.parametrize("half", [False, True], ids=["f32", "f16"])
@pytest.mark.parametrize("frame_hw,kernel", [((21, 30), "postprocess"), ((41, 70), "postprocess_staged")])
def test_non_finite_model_output_clamps_to_black_or_white(emulator, ref, value, styled_level, half, frame_hw, kernel):
    """FP16 overflow gives inf or NaN: both post kernels clamp NaN and -inf to 0 and +inf to 255 (no
    undefined float-to-int cast), as the CPU build does."""
    from sdk.cuda.kernels import postprocess_kernel
    assert postprocess_kernel(20, 32, *frame_hw, half, emulator.post_rows, emulator.shared_limit)[0] == \
        f"{kernel}_{'f16' if half else 'f32'}"
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    styled = np.full((1, 3, 20, 32), value, np.float16 if half else np.float32)
    got = run_post(emulator, styled, frame, "bgr", 0.7, None, None, 0.0, 0, 0)
    want = np.floor(frame + (styled_level - frame.astype(np.float32)) * np.float32(0.7) + 0.5).astype(np.uint8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= TOLERANCE["uint8_lsb"]
    np.testing.assert_array_equal(ref.postprocess(styled.astype(np.float32), frame, "bgr", 0.7), got)


@pytest.mark.parametrize("half", [False, True], ids=["f32", "f16"])
def test_strength_and_temporal_from_device_memory_override_the_values(emulator, half):
    """The pipeline's graphs read strength and temporal through `params` (changed between replays)."""
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (37, 61, 3), dtype=np.uint8)
    previous = rng.integers(0, 256, frame.shape, dtype=np.uint8)
    previous_input = np.clip(frame + rng.integers(-8, 9, frame.shape), 0, 255).astype(np.uint8)
    styled = rng.uniform(-1, 1, (1, 3, 36, 60)).astype(np.float16 if half else np.float32)

    def post(strength, temporal, params=None):
        out = np.zeros_like(frame)
        emulator.postprocess(styled.ctypes.data, 36, 60, frame.ctypes.data, frame.strides[0], 37, 61, "bgr", strength,
                             out.ctypes.data, out.strides[0], half, previous.ctypes.data, previous.strides[0],
                             previous_input.ctypes.data, previous_input.strides[0], temporal,
                             params_ptr=params.ctypes.data if params is not None else 0)
        return out

    params = np.array([0.3, 0.8], np.float32)
    np.testing.assert_array_equal(post(0.9, 0.1, params), post(0.3, 0.8))
    assert not np.array_equal(post(0.9, 0.1), post(0.3, 0.8))


def test_the_post_kernels_fade_division_is_exact_for_every_input_change(emulator):
    """The kernel divides the input change (an integer 0..255) by the fade with a reciprocal product and
    one FMA step instead of a division; it must equal the division for every input, as on the CPU."""
    from sdk.frames import TEMPORAL_FADE
    changes = np.arange(256, dtype=np.float32)
    want = changes / np.float32(TEMPORAL_FADE)
    got = np.array([emulator.div_by_fade(float(x)) for x in changes], np.float32)
    np.testing.assert_array_equal(got, want)
    assert (changes * (np.float32(1) / np.float32(TEMPORAL_FADE)) != want).sum() == 84  # the product alone is not


def test_the_launch_sizes_the_staged_kernels_shared_memory_as_the_kernel_counts_it(emulator):
    """sdk.cuda.kernels sizes the dynamic shared memory on the host with the kernel's own float
    arithmetic; a mismatch would let the kernel write past it on the GPU."""
    from sdk.cuda.kernels import staged_shared_bytes
    checked = 0
    for height, width in ((16, 16), (129, 237), (360, 640), (720, 1280), (1080, 1920), (1081, 1919), (2160, 3840),
                          (4320, 7680)):
        for h in sorted({16, 128, 359, 360, 718, 720, height // 3, height // 2, height}):
            w = max(16, (h * width // height) & ~3)
            if h <= height and w <= width:
                for half in (False, True):
                    assert staged_shared_bytes(h, w, height, width, half, emulator.post_rows) == \
                        emulator.staged_shared_bytes(h, w, height, width, half)
                    checked += 1
    assert checked > 100


def test_the_staged_post_kernel_is_picked_where_it_applies():
    """Staged for upscales and 1:1 whose staged rows fit the device's shared memory; direct otherwise."""
    from sdk.cuda.kernels import postprocess_kernel, staged_shared_bytes
    hopper, ampere_default = 227 * 1024, 48 * 1024
    assert postprocess_kernel(720, 1280, 2160, 3840, True, 8, hopper) == (
        "postprocess_staged_f16", staged_shared_bytes(720, 1280, 2160, 3840, True, 8))
    # 21 rows spanned, 3 of margin; each: 32 x 4 RGB floats staged and 3 planes of 50 FP16 raw values
    # (43 columns spanned, 8 of margin, rounded down to even); and a 16-byte tap for each of 8 x 8 output rows
    assert staged_shared_bytes(720, 1280, 2160, 3840, True, 8) == 24 * (32 * 4 * 3 * 4 + 3 * 50 * 2) + 64 * 16
    assert postprocess_kernel(16, 24, 9, 13, False, 8, hopper) == ("postprocess_f32", 0)  # output larger
    assert postprocess_kernel(720, 1280, 720, 1280, True, 8, hopper)[0] == "postprocess_staged_f16"
    assert postprocess_kernel(720, 1280, 720, 1280, True, 8, ampere_default) == ("postprocess_f16", 0)  # 99 KB


def test_temporal_smoothing_rounds_as_the_cpu_path_where_a_fused_step_would_not(emulator, ref):
    """The post kernel's temporal step rounds product, sum and half one by one, as the CPU path does: on an input
    where one rounding lands a step lower in over 1% of the values, the kernel matches the CPU path in all but
    a few (the strength blend's own float rounding, 1 in 250,000 elsewhere)."""
    from tests.kernels import temporal_case as case
    assert case.weight() != np.float32(0.125)  # the premise: a hair above
    rng = np.random.default_rng(11)
    styled, frame, previous_input = case.inputs(rng, 129, 237, 72, 128)
    blended = run_post(emulator, styled, frame, "bgr", case.STRENGTH, None, None, 0.0, 0, 0)
    previous = case.previous_output(blended, rng)
    smoothed = run_post(emulator, styled, frame, "bgr", case.STRENGTH, previous, previous_input, case.TEMPORAL, 0, 0)
    want = ref.postprocess(styled, frame, "bgr", case.STRENGTH, previous, case.TEMPORAL, previous_input)
    assert (case.fused(blended, previous) != want).mean() > 0.01  # the input tells the two orders apart
    mismatched = smoothed != want
    assert mismatched.mean() <= 1e-4 and np.abs(smoothed.astype(int) - want.astype(int)).max() <= 1
