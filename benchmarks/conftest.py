import cv2
import numpy as np
import pytest

SIZES = {"360p": (640, 360), "720p": (1280, 720)}


@pytest.fixture(scope="session", params=list(SIZES))
def frame(request):
    """A real photo (skimage's astronaut) resized to the benchmark size, BGR uint8."""
    from trainer import photos
    w, h = SIZES[request.param]
    rgb = photos.load_photo("astronaut")
    return request.param, cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)[:, :, ::-1].copy()


def run(benchmark, fn, rounds=30):
    """Warm up, then time ``rounds`` calls; each call is synchronous on the CPU."""
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=3)


@pytest.fixture(autouse=True)
def _record_machine(benchmark):
    import os
    import platform
    import subprocess

    import onnxruntime

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    benchmark.extra_info.update({"cpu_count": os.cpu_count(), "machine": platform.machine(),
                                 "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__,
                                 "numpy": np.__version__, "commit": commit})
