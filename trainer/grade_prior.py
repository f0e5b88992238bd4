"""A classical estimate of a colour grade from two sets of different photos: per-channel levels.

``add-style --photos`` has only the creator's edited photos and, on the other side, the corpus's plain
ones: different pictures, so every set-level statistic mixes the grade with the two sets' content.
Fewer numbers estimate it more robustly, and the sets' extremes most of all: a photo's black and white points
are near neutral whatever it shows, while its midtones follow its content. Over 12 random draws of nine plain and
nine other look pictures from the corpus's 22 non-test pictures, judged on the draw's four remaining pictures
(docs/training.md), the per-channel straight line through the two sets' pooled 0.1st and 99.9th percentiles
averaged 0.45 closure over five grades, varying by 0.06-0.11 (standard deviation) from draw to draw; through
the 5th and 95th, 0.12, varying by 0.2-0.5 (it had looked best on the corpus's own split: one lucky draw).
Histogram matching and Lab mean/std transfer follow the content far more. A grade that clips a channel
(pushes highlights past 255) is estimated flatter at that end; moving the line's end inside the clipped share
fixed that on a known grade but, the rank there following the content, lost 0.05 on the draws. The estimate is
the teacher of the new style's column (a paired L1 on content crops) beside the critic on the look photos.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

LOW, HIGH = 0.1, 99.9  # the black and white points
PIXELS_PER_PHOTO = 65536  # every photo weighs the same, whatever its size
LONG_SIDE = 640
# Above this, the look photos' fine detail says the look draws (lines, texture) and is not only a colour grade.
# Measured on 30 corpus crops with the earlier 5th/95th levels (docs/training.md): five grades 0.77-0.84, warm_film's grain 1.39, the sketch 3.3,
# the ink sketch 4.4. Softening looks fall below 1 (vintage 0.43, glow 0.52), but a grade is most of them.
GRADE_DETAIL_MAX = 2.0


@dataclass(frozen=True)
class Levels:
    """``out[c] = slope[c] * in[c] + offset[c]`` on 0-255 values, clipped."""

    slope: tuple[float, float, float]
    offset: tuple[float, float, float]

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB in, HxWx3 uint8 RGB out."""
        out = rgb.astype(np.float32) * np.float32(self.slope) + np.float32(self.offset)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def apply_torch(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1], as the generator sees images."""
        slope = torch.tensor(self.slope, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        offset = torch.tensor(self.offset, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        # in [-1, 1]: v = 2 u / 255 - 1, so slope * u + offset maps to slope * (x + 1) - 1 + 2 offset / 255
        return (slope * (x + 1) - 1 + offset * (2 / 255)).clamp(-1, 1)

    def to_dict(self) -> dict:
        return {"slope": [round(v, 4) for v in self.slope], "offset": [round(v, 2) for v in self.offset],
                "percentiles": [LOW, HIGH]}


def _pooled(photos: list[np.ndarray], seed: int) -> np.ndarray:
    import cv2
    rng = np.random.default_rng(seed)
    pixels = []
    for rgb in photos:
        scale = LONG_SIDE / max(rgb.shape[:2])
        if scale < 1:  # the same detail on both sides, whatever size the photos come in
            rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        flat = rgb.reshape(-1, 3)
        if len(flat) > PIXELS_PER_PHOTO:
            flat = flat[rng.choice(len(flat), PIXELS_PER_PHOTO, replace=False)]
        pixels.append(flat)
    return np.concatenate(pixels).astype(np.float32)


def fit_levels(plain: list[np.ndarray], look: list[np.ndarray], seed: int = 0) -> Levels:
    """The per-channel line through the plain and look sets' pooled ``LOW``th and ``HIGH``th percentiles.

    ``plain``: photos without the look (uint8 RGB); ``look``: other photos with it. A channel whose
    plain set has no spread there gets slope 1 (only a shift)."""
    if not plain or not look:
        raise ValueError(f"fitting a grade needs photos on both sides; got {len(plain)} plain and {len(look)} look photos")
    source, target = _pooled(plain, seed), _pooled(look, seed + 1)
    slopes, offsets = [], []
    for c in range(3):
        s_low, s_high = np.percentile(source[:, c], [LOW, HIGH])
        t_low, t_high = np.percentile(target[:, c], [LOW, HIGH])
        slope = float((t_high - t_low) / (s_high - s_low)) if s_high - s_low > 1 else 1.0
        slopes.append(slope)
        offsets.append(float(t_low - slope * s_low))
    return Levels(tuple(slopes), tuple(offsets))


def _fine_detail(photos: list[np.ndarray]) -> float:
    """Mean |grey - its sigma-1 blur| over the photos, each at a long side of 256 (the same scale on both sides)."""
    import cv2
    values = []
    for rgb in photos:
        scale = 256 / max(rgb.shape[:2])
        small = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        values.append(float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0)).mean()))
    return float(np.mean(values))


def detail_ratio(plain: list[np.ndarray], look: list[np.ndarray], levels: Levels) -> float:
    """The look photos' fine detail over the plain photos' through ``levels``: near 1 for a colour grade (0.8
    measured, the two sets' content apart), well above it for lines, which no grade holds, below it for softening."""
    return _fine_detail(look) / max(_fine_detail([levels.apply(im) for im in plain]), 1e-6)
