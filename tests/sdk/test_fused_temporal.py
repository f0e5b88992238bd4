"""Temporal smoothing done by a GPU backend's post kernel gives what the CPU path gives.

The GPU pipeline cannot run here, so a stand-in backend keeps its contract on the CPU: its
stylize_frame/submit_frame take ``temporal`` and smooth with the kernels' CPU build
(kernels/cpu_reference), holding the previous frame themselves, and ``reset_temporal`` forgets
it. The Stylizer must hand it the smoothing (and not smooth again), reset it when the CPU path
smooths instead, and produce frame for frame the bytes of the CPU path.
"""
import numpy as np
import pytest

import sdk
from kernels.cpu_reference import CpuReference
from sdk import frames


class CpuFusedBackend:
    pipelined = True  # submit_frame returns handles

    def __init__(self, inner, fused_temporal: bool):
        self.inner, self.fused_temporal, self.ref = inner, fused_temporal, CpuReference()
        self.previous = None  # (order, input, output) of the last smoothed frame
        self.temporal_calls, self.pending, self.submitted = [], {}, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def stylize_frame(self, frame, order, size_hw, style, strength, temporal: float = 0.0):
        self.temporal_calls.append(temporal)
        frame = np.ascontiguousarray(frame)
        styled = self.inner.run(frames.preprocess(np.ascontiguousarray(frame[:, :, :3]), size_hw, order[:3]), style)
        previous = self.previous if temporal and self.previous is not None and self.previous[0] == order \
            and self.previous[1].shape == frame.shape else None
        out = self.ref.postprocess(styled, frame, order, strength, previous[2] if previous else None, temporal,
                                   previous[1] if previous else None)
        self.previous = (order, frame.copy(), out.copy()) if temporal else None
        return out

    def submit_frame(self, *args, **kwargs):
        handle, self.submitted = self.submitted, self.submitted + 1
        self.pending[handle] = self.stylize_frame(*args, **kwargs)
        return handle

    def result_frame(self, handle):
        return self.pending.pop(handle)

    def reset_temporal(self):
        self.previous = None


@pytest.fixture(scope="module")
def clip(photo_bgr_small):
    """A still scene with sensor noise and one moving block: smoothing keeps the still part."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(8):
        f = np.clip(photo_bgr_small.astype(np.int16) + rng.integers(-6, 7, photo_bgr_small.shape), 0, 255)
        f[20:50, 10 + 12 * i:40 + 12 * i] = 255
        out.append(f.astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def photo_bgr_small(frame_bgr):
    import cv2
    return cv2.resize(frame_bgr, (160, 96))


def stylizer(fused: bool, **options):
    s = sdk.Stylizer(backend="onnxruntime", precision="fp32", **options)
    s._backend = CpuFusedBackend(s._backend, fused_temporal=fused)
    return s


def test_smoothing_in_the_backend_matches_the_cpu_path_frame_for_frame(clip):
    gpu_like, cpu_like, off = stylizer(True, temporal=0.6), stylizer(False, temporal=0.6), stylizer(True)
    a, b, plain = [], [], []
    for i, frame in enumerate(clip):
        if i == 5:  # a scene cut: both start afresh
            gpu_like.reset()
            cpu_like.reset()
        a.append(gpu_like(frame))
        b.append(cpu_like(frame))
        plain.append(off(frame))
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_array_equal(x, y, err_msg=f"frame {i}")
    assert gpu_like._backend.temporal_calls == [0.6] * 8  # the backend smoothed ...
    assert cpu_like._backend.temporal_calls == [0.0] * 8  # ... or was never asked to
    np.testing.assert_array_equal(a[0], plain[0])  # the first frame and the one after the cut: nothing to smooth
    np.testing.assert_array_equal(a[5], plain[5])
    assert (a[1] != plain[1]).mean() > 0.3  # later frames are smoothed


def test_pipelined_submit_smooths_in_submission_order(clip):
    called, piped = stylizer(True, temporal=0.6), stylizer(True, temporal=0.6)
    want = [called(f) for f in clip]
    got = list(piped.stream(clip))
    for i, (x, y) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(x, y, err_msg=f"frame {i}")
    assert piped._backend.temporal_calls == [0.6] * 8


def test_alpha_frames_are_smoothed_alike_and_keep_their_alpha(clip):
    rng = np.random.default_rng(1)
    alpha = [np.concatenate([f, rng.integers(0, 256, f.shape[:2] + (1,), dtype=np.uint8)], axis=2) for f in clip[:4]]
    gpu_like, cpu_like = stylizer(True, temporal=0.5), stylizer(False, temporal=0.5)
    for f in alpha:
        x, y = gpu_like(f), cpu_like(f)
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x[:, :, 3], f[:, :, 3])


def test_switching_to_the_cpu_path_and_back_starts_smoothing_afresh(clip):
    s, off = stylizer(True, temporal=0.6), stylizer(True)
    out = [s(clip[0]), s(clip[1])]
    s.preserve_color = True  # preserve_color runs on the CPU first, so the CPU path smooths this frame
    out.append(s(clip[2]))
    s.preserve_color = False
    out.append(s(clip[3]))
    out.append(s(clip[4]))
    assert s._backend.temporal_calls == [0.6, 0.6, 0.0, 0.6, 0.6]
    off.preserve_color = True
    np.testing.assert_array_equal(out[2], off(clip[2]))  # no previous frame on the CPU side: unsmoothed
    off.preserve_color = False
    np.testing.assert_array_equal(out[3], off(clip[3]))  # the backend's state was reset: unsmoothed
    assert (out[4] != off(clip[4])).mean() > 0.3  # and smoothing resumes
