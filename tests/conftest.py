import functools
import os

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (a CI failure reproduces here);
# HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# Tolerances, in one place (kornia keeps such a table): uint8 outputs are compared in LSBs
# (one uint8 step), float model outputs in absolute units of the [-1, 1] range.
TOLERANCE = {"uint8_lsb": 1, "onnx_vs_torch_fp32": 1e-3}


@functools.cache
def shipped_num_styles() -> int:
    """How many styles the shipped default package has: tests that feed it a style vector size it so."""
    import sdk
    return len(sdk.load_package().styles)


def one_hot_style(index: int, num_styles: int | None = None) -> np.ndarray:
    """A (1, S, 1, 1) float32 style vector selecting one style of the shipped package."""
    n = shipped_num_styles() if num_styles is None else num_styles
    return np.eye(n, dtype=np.float32)[index].reshape(1, n, 1, 1)


@pytest.fixture(scope="session")
def photos_rgb():
    from trainer import photos
    return {name: photos.load_photo(name) for name in ("astronaut", "chelsea", "coffee")}


@pytest.fixture(scope="session")
def frame_bgr(photos_rgb):
    """A real 640x360 BGR frame (from skimage's coffee photo)."""
    import cv2
    return cv2.resize(photos_rgb["coffee"], (640, 360))[:, :, ::-1].copy()


@pytest.fixture(scope="session")
def stylizer():
    import sdk
    s = sdk.Stylizer(backend="onnxruntime")
    yield s
    s.close()


def lsb_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
