"""Synthetic test media: a short clip with camera motion (pan, zoom, small rotation) from one photo."""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np


def camera_motion_frames(image: np.ndarray, count: int, size_wh: tuple[int, int]) -> list[np.ndarray]:
    """``count`` frames of ``size_wh`` looking at ``image`` through a slowly moving camera."""
    h, w = image.shape[:2]
    out_w, out_h = size_wh
    frames = []
    for i in range(count):
        t = i / max(count - 1, 1)
        zoom = 1.0 + 0.25 * t
        angle = 3.0 * math.sin(2 * math.pi * t)
        cx = w / 2 + 0.08 * w * math.sin(math.pi * t)
        cy = h / 2 + 0.04 * h * math.cos(math.pi * t)
        # Scale so the output frame is covered by the photo (no black borders), then move.
        cover = max(out_w / w, out_h / h) * zoom * 1.1
        m = cv2.getRotationMatrix2D((cx, cy), angle, cover)
        m[0, 2] += out_w / 2 - cx
        m[1, 2] += out_h / 2 - cy
        frames.append(cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


def write_clip(path: str | os.PathLike, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    try:
        for f in frames:
            writer.write(f)
    finally:
        writer.release()
    return path
