"""Synthetic test media: a short clip with camera motion (pan, zoom, small rotation) from one photo."""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np


MOTIONS = ("mixed", "pan", "zoom", "rotate")


def camera_motion(image: np.ndarray, count: int, size_wh: tuple[int, int],
                  motion: str = "mixed") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` frames of ``size_wh`` looking at ``image`` through a slowly moving camera, and the
    2x3 affine matrix (photo -> frame) of each, from which frame-to-frame motion is known exactly.

    ``motion``: "pan" (sideways drift), "zoom" (in by 25%), "rotate" (+-3 degrees) or "mixed" (all three).
    """
    if motion not in MOTIONS:
        raise ValueError(f"motion is {motion!r}; expected one of {MOTIONS}")
    h, w = image.shape[:2]
    out_w, out_h = size_wh
    frames, matrices = [], []
    for i in range(count):
        t = i / max(count - 1, 1)
        zoom = 1.0 + 0.25 * t if motion in ("mixed", "zoom") else 1.0
        angle = 3.0 * math.sin(2 * math.pi * t) if motion in ("mixed", "rotate") else 0.0
        pan = motion in ("mixed", "pan")
        cx = w / 2 + (0.08 * w * math.sin(math.pi * t) if pan else 0.0)
        cy = h / 2 + (0.04 * h * math.cos(math.pi * t) if pan else 0.0)
        # Scale so the output frame is covered by the photo (no black borders), then move.
        cover = max(out_w / w, out_h / h) * zoom * 1.1
        m = cv2.getRotationMatrix2D((cx, cy), angle, cover)
        m[0, 2] += out_w / 2 - cx
        m[1, 2] += out_h / 2 - cy
        frames.append(cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
        matrices.append(m)
    return frames, matrices


def camera_motion_frames(image: np.ndarray, count: int, size_wh: tuple[int, int]) -> list[np.ndarray]:
    """``count`` frames of ``size_wh`` looking at ``image`` through a slowly moving camera."""
    return camera_motion(image, count, size_wh)[0]


def frame_to_frame(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """2x3 affine mapping frame t-1 onto frame t, from their photo -> frame matrices."""
    a = np.vstack([previous, [0, 0, 1]])
    b = np.vstack([current, [0, 0, 1]])
    return (b @ np.linalg.inv(a))[:2]


def warping_error(outputs: list[np.ndarray], matrices: list[np.ndarray]) -> float:
    """Mean absolute difference (uint8 steps) between each output and the previous output warped
    by the known camera motion, over pixels whose source lies inside the previous frame."""
    errors = []
    h, w = outputs[0].shape[:2]
    ones = np.ones((h, w), np.uint8)
    for t in range(1, len(outputs)):
        m = frame_to_frame(matrices[t - 1], matrices[t])
        warped = cv2.warpAffine(outputs[t - 1], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        # a 2-pixel margin inside the valid area: bilinear taps there still read real pixels
        valid = cv2.erode(cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_NEAREST), np.ones((5, 5), np.uint8)) > 0
        diff = np.abs(outputs[t].astype(np.float32) - warped.astype(np.float32))
        errors.append(float(diff[valid].mean()))
    return float(np.mean(errors))


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


def write_clip_with_audio(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 25,
                          audio_codec: str = "aac", tone_hz: float = 440.0, sample_rate: int = 44100) -> Path:
    """A clip with a stereo tone as long as the video, through PyAV: MPEG-4 video in .mp4 (MJPEG in .avi)
    with ``audio_codec`` audio ("aac" or "pcm_s16le"), the kind of file a phone or an editor writes."""
    import av

    if audio_codec not in ("aac", "pcm_s16le"):
        raise ValueError(f"audio_codec is {audio_codec!r}; expected 'aac' or 'pcm_s16le'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mjpeg = path.suffix.lower() == ".avi"
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("mjpeg" if mjpeg else "mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuvj420p" if mjpeg else "yuv420p"
        audio = out.add_stream(audio_codec, rate=sample_rate)
        audio.layout = "stereo"
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
            vf.pts = i
            for packet in video.encode(vf):
                out.mux(packet)
        samples = int(round(sample_rate * len(frames) / fps))
        tone = 0.2 * np.sin(2 * np.pi * tone_hz * np.arange(samples) / sample_rate)
        planar = audio_codec == "aac"  # AAC takes planar float, PCM interleaved int16
        for start in range(0, samples, 1024):
            chunk = tone[start:start + 1024]
            if planar:
                af = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]).astype(np.float32), format=audio.format.name,
                                                layout="stereo")
            else:
                pcm = (np.stack([chunk, chunk], 1).reshape(1, -1) * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
            af.sample_rate, af.pts = sample_rate, start
            for packet in audio.encode(af):
                out.mux(packet)
        for stream in (audio, video):
            for packet in stream.encode(None):
                out.mux(packet)
    return path
