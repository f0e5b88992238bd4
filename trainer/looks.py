"""Named looks: classical filters that stand in for a creator's photo set.

No influencer photo sets can be downloaded here, so each look's *target* photos
are made by running one of these filters over real photos (see ``trainer.photos``).
The filter also gives a reference for evaluation: on held-out photos, a model that
learned the look lands closer (PSNR) to the filter output than the untouched photo.
All functions take and return HxWx3 uint8 RGB.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np


def glow(rgb: np.ndarray) -> np.ndarray:
    """Influencer glow: smoothed skin, warm grade with lifted shadows, soft bloom.

    No vignette: a fully convolutional generator trained on random crops cannot
    know where a pixel sits in the frame, so a vignette is not learnable from crops.
    """
    smooth = cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=40, sigma_r=0.25)
    x = smooth.astype(np.float32) / 255.0
    x = 0.06 + 0.94 * x  # lifted shadows, the faded "soft" look
    x = x * np.array([1.10, 1.02, 0.86], np.float32)  # warm white balance
    luma = x @ np.array([0.299, 0.587, 0.114], np.float32)
    highlights = np.clip((luma - 0.55) / 0.45, 0, 1)[..., None] * x
    bloom = cv2.GaussianBlur(highlights, (0, 0), sigmaX=6)
    x = 1 - (1 - x) * (1 - 0.6 * bloom)  # screen blend
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def cartoon(rgb: np.ndarray) -> np.ndarray:
    """Cartoon: OpenCV's edge-aware stylization (flat regions, inked edges)."""
    return cv2.stylization(rgb, sigma_s=60, sigma_r=0.45)


def sketch(rgb: np.ndarray) -> np.ndarray:
    """Pencil sketch on white paper, grey replicated to three channels."""
    gray, _ = cv2.pencilSketch(rgb, sigma_s=60, sigma_r=0.07, shade_factor=0.05)
    return np.repeat(gray[:, :, None], 3, axis=2)


LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"glow": glow, "cartoon": cartoon, "sketch": sketch}


def get_look(name: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        return LOOKS[name]
    except KeyError:
        raise KeyError(f"Unknown look {name!r}. Available: {', '.join(sorted(LOOKS))}") from None
