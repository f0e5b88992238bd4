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
    """Cartoon: flat edge-aware regions, vivid colours, dark inked outlines.

    Two passes of an edge-preserving filter flatten shading into regions; the ink follows the
    flattened image's own gradients (no thresholded contour tracing, whose placement hinges on tiny
    gradient differences), so a small network can learn where it goes.
    """
    flat = cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=60, sigma_r=0.45)
    flat = cv2.edgePreservingFilter(flat, flags=cv2.RECURS_FILTER, sigma_s=30, sigma_r=0.3)
    hsv = cv2.cvtColor(flat, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.7 + 10, 0, 255)
    hsv[..., 2] = np.clip((hsv[..., 2] - 128) * 1.15 + 150, 0, 255)
    vivid = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gradient = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    ink = np.clip((gradient - 30) / 60, 0, 1)[..., None]
    return np.clip(vivid * (1 - 0.85 * ink) + 0.5, 0, 255).astype(np.uint8)


def _graphite(rgb: np.ndarray, blur_sigma: float, exponent: float) -> np.ndarray:
    """HxW in [0, 1]: the grey image colour-dodged by its blurred negative (1: paper, lower: lines where the image
    has edges; a smaller blur draws thinner lines), raised to ``exponent`` (darker graphite)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blurred_negative = cv2.GaussianBlur(255 - gray, (0, 0), sigmaX=blur_sigma)
    dodge = np.clip(gray * 255 / np.maximum(255 - blurred_negative, 1), 0, 255)
    return (dodge / 255) ** exponent


def sketch(rgb: np.ndarray) -> np.ndarray:
    """Pencil sketch: graphite lines on white paper, in grey.

    A colour-dodge of the grey image by its blurred negative (white paper, graphite lines where
    the image has edges), grey replicated to three channels."""
    pencil = 255 * _graphite(rgb, blur_sigma=4.0, exponent=2.0)
    return np.repeat(np.clip(pencil + 0.5, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def ink_sketch(rgb: np.ndarray) -> np.ndarray:
    """Ink sketch: finer, higher-contrast lines than ``sketch`` (the negative blurred at sigma 2, exponent 3)
    on cream paper.

    Not in the shipped package: a local look for `python -m trainer add-style --demo-pairs`, the kind a
    creator keeps before/after pairs of."""
    ink = _graphite(rgb, blur_sigma=2.0, exponent=3.0)
    paper = np.array([250, 238, 212], np.float32)  # cream
    return np.clip(ink[:, :, None] * paper + 0.5, 0, 255).astype(np.uint8)


def vintage(rgb: np.ndarray) -> np.ndarray:
    """Vintage film: faded blacks and whites, muted colours, a warm sepia cast, slightly soft."""
    x = rgb.astype(np.float32) / 255.0
    x = 0.10 + 0.80 * x  # faded: no true black or white
    luma = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    x = luma + 0.6 * (x - luma)  # muted colours
    x = x * np.array([1.08, 1.0, 0.82], np.float32) + np.array([0.02, 0.01, 0.0], np.float32)  # sepia cast
    x = cv2.GaussianBlur(x, (0, 0), sigmaX=0.8)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def warm_film(rgb: np.ndarray, seed: int = 0, grain: float = 0.02) -> np.ndarray:
    """A warm grade with film grain: warm white balance, gentle S-curve, faded blacks, grain.

    Not in the shipped package: the look `python -m trainer add-style --demo-photos` teaches an
    existing model, so the model has never seen it. The grain is seeded (reproducible targets).
    """
    x = rgb.astype(np.float32) / 255.0
    x = x * np.array([1.08, 1.0, 0.82], np.float32) + np.array([0.03, 0.01, 0.0], np.float32)
    x = np.clip(x, 0, 1)
    x = x + 0.35 * x * (1 - x) * (x - 0.5) * 2  # S-curve
    x = 0.05 + 0.92 * x  # faded blacks
    if grain:
        x = x + np.random.default_rng(seed).normal(0, grain, x.shape[:2]).astype(np.float32)[..., None]
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def warm_grade(rgb: np.ndarray) -> np.ndarray:
    """warm_film without its grain: a pure colour grade. Random grain cannot be predicted from the photo, so
    against warm_film even the exact grade scores a closure of about 0.87 on the corpus's pairs; against
    this, a model that learned the grade can reach 1."""
    return warm_film(rgb, grain=0.0)


def soft_skin(rgb: np.ndarray) -> np.ndarray:
    """Soft skin: edge-preserving smoothing of texture (pores, grain, fine noise), colours untouched.

    Not in the shipped package: a local look for `python -m trainer add-style --demo-pairs`, which no
    colour grade or LUT can hold."""
    return cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER, sigma_s=40, sigma_r=0.4)


LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"glow": glow, "cartoon": cartoon, "sketch": sketch,
                                                        "vintage": vintage, "warm_film": warm_film, "warm_grade": warm_grade,
                                                        "soft_skin": soft_skin, "ink_sketch": ink_sketch}


def get_look(name: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        return LOOKS[name]
    except KeyError:
        raise KeyError(f"Unknown look {name!r}. Available: {', '.join(sorted(LOOKS))}") from None
