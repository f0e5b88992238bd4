"""Real photos for training and evaluation, from scikit-image's bundled data.

Three disjoint sets make the task unpaired, as in real use: the generator sees
``CONTENT`` photos as inputs, the discriminator sees *other* photos (``STYLE``)
pushed through a look's filter, and ``HELD_OUT`` photos are seen by neither and
are only used to measure how far the trained model moved toward each look.
No download happens: every name here ships inside the scikit-image wheel.
"""
from __future__ import annotations

import numpy as np

# The two training sets are balanced in kind: two colour photos and four grey ones each
# (a discriminator that sees colour mostly on one side learns "grey" as part of the look),
# and trainer.data re-exposes and re-saturates every copy to random targets on both sides.
# Microscopy (immunohistochemistry), retina and astronomy images are left out: their
# strong single-hue casts would tilt whichever side holds them.
CONTENT = ("astronaut", "rocket", "camera", "brick", "page", "text")
STYLE = ("coffee", "motorcycle_left", "cell", "moon", "grass", "gravel")
# motorcycle_right is the stereo partner of a look photo: the same scene from another viewpoint.
HELD_OUT = ("chelsea", "motorcycle_right", "clock", "coins")


def load_photo(name: str) -> np.ndarray:
    """One bundled photo as HxWx3 uint8 RGB (grayscale photos are replicated to 3 channels)."""
    try:
        import skimage.data as data
    except ImportError as exc:  # the photos are a dev/demo/train dependency, not a runtime one
        raise ImportError(
            "scikit-image is needed for the bundled photos; install it with "
            "`pip install scikit-image` or the project's `train`/`demo` extra"
        ) from exc
    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        image = left if name == "motorcycle_left" else right
    else:
        image = getattr(data, name)()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8) if image.dtype.kind == "f" else image.astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def load_set(names: tuple[str, ...]) -> list[np.ndarray]:
    return [load_photo(n) for n in names]
