"""One Stylizer from 8 threads: bit-identical to sequential calls; the shared default instance is made once.

How each backend is made safe (see sdk/backends/): ONNX Runtime shares one InferenceSession
(its run() is thread-safe); the torch CPU backend is stateless per call; torch-cuda holds a
lock around its single pipeline; TensorRT gives each thread its own execution context.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

import sdk
import sdk.stylizer as stylizer_module

THREADS = 8


@pytest.fixture(scope="module")
def jobs(photos_rgb):
    """Different sizes (own working sizes and resized ones), styles, mixes and strengths."""
    out = []
    sizes = [(360, 640), (129, 237), (480, 480), (96, 200)]
    styles = ["glow", "vintage", "sketch", {"glow": 0.5, "sketch": 0.5}]
    for i, (name, photo) in enumerate(sorted(photos_rgb.items())):
        for j, (h, w) in enumerate(sizes):
            frame = cv2.resize(photo, (w, h))[:, :, ::-1].copy()
            out.append((frame, styles[(i + j) % len(styles)], (0.5, 1.0)[j % 2]))
    return out


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_eight_threads_give_the_sequential_outputs_bit_for_bit(jobs, backend):
    with sdk.Stylizer(backend=backend) as s:
        sequential = [s(frame, style=style, strength=strength) for frame, style, strength in jobs]
        start = threading.Barrier(THREADS)

        def worker(offset):
            start.wait()  # all threads enter the stylizer together
            results = {}
            for k in range(len(jobs)):
                index = (k + offset) % len(jobs)  # each thread walks the jobs in another order
                frame, style, strength = jobs[index]
                results[index] = s(frame, style=style, strength=strength)
                s.stats()  # reading the timer while others write it must be safe
            return results

        with ThreadPoolExecutor(THREADS) as pool:
            per_thread = list(pool.map(worker, range(THREADS)))
    for results in per_thread:
        assert len(results) == len(jobs)
        for index, expected in enumerate(sequential):
            np.testing.assert_array_equal(results[index], expected)


def test_shared_default_instance_is_created_once(monkeypatch, frame_bgr):
    monkeypatch.setattr(stylizer_module, "_default", None)
    created = []
    real_init = stylizer_module.Stylizer.__init__
    gate = threading.Event()

    def slow_init(self, *args, **kwargs):
        created.append(self)
        gate.wait(0.2)  # widen the window in which a racing thread could create a second one
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(stylizer_module.Stylizer, "__init__", slow_init)
    start = threading.Barrier(THREADS)

    def call(_):
        start.wait()
        return sdk.stylize_frame(frame_bgr, style="vintage")

    with ThreadPoolExecutor(THREADS) as pool:
        outputs = list(pool.map(call, range(THREADS)))
    assert len(created) == 1
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])
    created[0].close()
