"""The frame contract, and CPU pre/post-processing.

Accepted frames (NumPy arrays):

* ``HxWx3`` uint8, BGR by default (OpenCV's convention) or RGB with ``color_order="rgb"``;
* ``HxWx4`` uint8 BGRA/RGBA: the alpha channel passes through untouched;
* ``HxW`` or ``HxWx1`` uint8 grayscale: stylized as three equal channels, returned as
  the luminance of the result, in the input's shape.

Device frames (the ``torch-cuda`` and ``tensorrt`` backends): any object with
``__cuda_array_interface__`` (a torch CUDA tensor, a CuPy, Numba or pycuda array) holding an
``HxWx3`` or ``HxWx4`` uint8 frame, rows optionally pitched. It is read on the device and never
leaves it; see :func:`check_device_frame`.

The output has the input's shape and dtype. Non-contiguous, negative-stride and
read-only arrays work; the caller's array is never written to (unless passed as ``out=``).
Refused with :class:`~sdk.errors.InvalidFrameError`: other dtypes (float frames too:
whether they are 0-1 or 0-255 is the caller's to say), other ranks or channel counts,
empty frames, frames larger than the stylizer's limit (7680x4320 by default).

Working resolution: the generator runs at the frame's own size when both sides are
multiples of the model's stride (4) and the long side is at most ``max_side``
(1280 by default: 640x360 and 1280x720 run as they are). Otherwise the frame is
resized (bilinear, aspect ratio kept, each side rounded to a multiple of the stride,
at least ``min_side``) for the generator, and the result is resized back to the frame
size. Nothing is cropped or padded. Strips thinner than ``min_side``/``max_side`` (e.g.
1x7680) cannot keep their aspect ratio within both bounds: they are stretched to at most
``max_side`` by ``min_side``.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sdk.errors import InvalidFrameError

COLOR_ORDERS = ("bgr", "rgb")
DEFAULT_MAX_FRAME = (7680, 4320)  # width, height


@dataclass(frozen=True)
class FrameInfo:
    height: int
    width: int
    kind: str  # "color", "alpha" or "gray"


def check_frame(frame: object, max_frame: tuple[int, int] = DEFAULT_MAX_FRAME) -> FrameInfo:
    """Validate ``frame`` against the contract (cheap: no pass over the pixels)."""
    if not isinstance(frame, np.ndarray):
        hint = ""
        if hasattr(frame, "__cuda_array_interface__"):
            hint = (" Device arrays need a CUDA backend (torch-cuda or tensorrt); copy it to the host (e.g. "
                    ".cpu().numpy()) for this one.")
        elif hasattr(frame, "numpy") and hasattr(frame, "dtype"):
            hint = " Convert a tensor with .cpu().numpy() (uint8, HxWxC)."
        elif type(frame).__module__.startswith("PIL"):
            hint = " Convert a PIL image with np.asarray(image) and pass color_order='rgb'."
        elif frame is None:
            hint = " A None frame usually means the camera or video read failed (cv2 returns None)."
        raise InvalidFrameError(f"frame is {type(frame).__name__}, expected a numpy.ndarray of uint8 "
                                f"with shape HxWx3 (BGR), HxWx4 or HxW.{hint}")
    if frame.dtype != np.uint8:
        fix = ("scale it yourself, e.g. (frame * 255).clip(0, 255).astype(np.uint8) for 0-1 floats"
               if frame.dtype.kind == "f" else "convert it with frame.astype(np.uint8) if its values are 0-255")
        raise InvalidFrameError(f"frame dtype is {frame.dtype}, expected uint8; {fix}.")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        kind = "gray"
    elif frame.ndim == 3 and frame.shape[2] == 3:
        kind = "color"
    elif frame.ndim == 3 and frame.shape[2] == 4:
        kind = "alpha"
    else:
        raise InvalidFrameError(f"frame shape is {frame.shape}, expected HxWx3 (BGR/RGB), HxWx4 (BGRA/RGBA), "
                                "HxWx1 or HxW (grayscale).")
    height, width = frame.shape[:2]
    _check_size("frame", frame.shape, height, width, max_frame)
    return FrameInfo(height, width, kind)


def _check_size(label: str, shape: tuple, height: int, width: int, max_frame: tuple[int, int]) -> None:
    """Host and device frames alike: at least 1x1, at most the stylizer's limit."""
    if height == 0 or width == 0:
        raise InvalidFrameError(f"{label} shape is {shape}: an empty frame, expected at least 1x1 pixels.")
    max_w, max_h = max_frame
    if max(width, height) > max(max_w, max_h) or min(width, height) > min(max_w, max_h):
        raise InvalidFrameError(f"{label} is {width}x{height}, larger than the limit {max_w}x{max_h}; resize it "
                                "first or raise Stylizer(max_frame=(W, H)).")


@dataclass(frozen=True)
class DeviceFrame:
    """A uint8 HxWxC frame in GPU memory, read through ``__cuda_array_interface__``."""
    ptr: int
    pitch: int  # bytes from one row to the next
    height: int
    width: int
    channels: int
    stream: int | None  # the producer's stream (CUDA array interface v3) to wait for, besides the caller's
    owner: object  # the caller's array: kept referenced while the device reads it
    readonly: bool

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


def check_device_frame(frame: object, max_frame: tuple[int, int] = DEFAULT_MAX_FRAME,
                       name: str = "frame") -> tuple[FrameInfo, DeviceFrame]:
    """Validate a device array against the contract, from its ``__cuda_array_interface__`` alone.

    Accepted: uint8, shape HxWx3 or HxWx4, pixels and channels dense (strides ``(pitch, C, 1)``
    with ``pitch >= W*C``, or none: C-contiguous), no mask. Gray device frames are refused (copy to
    the host, or replicate to 3 channels on the device).
    """
    what = type(frame).__name__
    try:
        interface = getattr(frame, "__cuda_array_interface__", None)
    except Exception as exc:  # torch raises RuntimeError for a tensor that requires grad
        raise InvalidFrameError(f"{name} is {what}; reading its __cuda_array_interface__ failed: {exc}") from None
    if not isinstance(interface, dict):
        raise InvalidFrameError(f"{name} is {what} without a readable __cuda_array_interface__; expected a device "
                                "array (torch CUDA tensor, CuPy, Numba or pycuda array).")
    shape, typestr = tuple(interface.get("shape", ())), interface.get("typestr")
    if typestr != "|u1":
        raise InvalidFrameError(f"{name} ({what}) has typestr {typestr!r}, expected '|u1' (uint8); convert it on the "
                                "device first, e.g. (t * 255).clamp(0, 255).to(torch.uint8) for 0-1 floats.")
    if len(shape) != 3 or shape[2] not in (3, 4):
        raise InvalidFrameError(f"{name} ({what}) has shape {shape}, expected HxWx3 (BGR/RGB) or HxWx4 (BGRA/RGBA) "
                                "on the device; gray frames go through the host.")
    height, width, channels = (int(v) for v in shape)
    _check_size(f"{name} ({what})", shape, height, width, max_frame)
    strides = interface.get("strides")
    pitch = width * channels
    if strides is not None:
        strides = tuple(int(v) for v in strides)
        if strides[1:] != (channels, 1) or strides[0] < width * channels:
            raise InvalidFrameError(f"{name} ({what}) has strides {strides}; expected ({width * channels} or more, "
                                    f"{channels}, 1): pixels and channels dense, rows may be padded. Make it "
                                    "contiguous on the device first (e.g. .contiguous()).")
        pitch = strides[0]
    if interface.get("mask") is not None:
        raise InvalidFrameError(f"{name} ({what}) is a masked array; expected a plain device array.")
    ptr, readonly = interface.get("data", (0, False))
    if not ptr:
        raise InvalidFrameError(f"{name} ({what}) has a null data pointer.")
    stream = interface.get("stream") if interface.get("version", 0) >= 3 else None
    if stream == 0:
        raise InvalidFrameError(f"{name} ({what}) names stream 0, which the CUDA array interface forbids "
                                "(1: legacy default stream, 2: per-thread default stream, None: no wait).")
    kind = "color" if channels == 3 else "alpha"
    return FrameInfo(height, width, kind), DeviceFrame(int(ptr), pitch, height, width, channels,
                                                       None if stream is None else int(stream), frame, bool(readonly))


def working_size(height: int, width: int, stride: int, max_side: int, min_side: int) -> tuple[int, int]:
    """(h, w) the generator runs at for an H x W frame; see the module docstring."""
    scale = min(1.0, max_side / max(height, width))
    h, w = height * scale, width * scale
    if min(h, w) < min_side:
        up = min_side / min(h, w)
        # Capped at max_side: a 1x7680 strip is stretched rather than run at 16x122880.
        h, w = min(h * up, max_side), min(w * up, max_side)

    def snap(v: float) -> int:
        return max(stride, int(round(v / stride)) * stride)

    return snap(h), snap(w)


def as_color(frame: np.ndarray, info: FrameInfo) -> np.ndarray:
    """The 3-channel view or copy of a frame that the generator sees."""
    if info.kind == "gray":
        return cv2.cvtColor(frame.reshape(info.height, info.width), cv2.COLOR_GRAY2BGR)
    if info.kind == "alpha":
        return frame[:, :, :3]
    return frame


def preprocess(color: np.ndarray, size_hw: tuple[int, int], color_order: str) -> np.ndarray:
    """HxWx3 uint8 -> (1, 3, h, w) float32 RGB in [-1, 1], resized (bilinear) to ``size_hw``."""
    h, w = size_hw
    if color.shape[:2] != (h, w):
        color = cv2.resize(color, (w, h), interpolation=cv2.INTER_LINEAR)
    # blobFromImage computes (pixel - mean) * scale, swaps R and B, and lays out NCHW in one pass.
    return cv2.dnn.blobFromImage(np.ascontiguousarray(color), 1.0 / 127.5, mean=(127.5, 127.5, 127.5),
                                 swapRB=(color_order == "bgr"))


def postprocess(nchw: np.ndarray, color: np.ndarray, strength: float, color_order: str) -> np.ndarray:
    """(1, 3, h, w) RGB in [-1, 1] -> HxWx3 uint8 at the frame's size, blended with ``color`` by ``strength``."""
    planes = nchw[0]
    order = (2, 1, 0) if color_order == "bgr" else (0, 1, 2)
    hwc = cv2.merge([np.ascontiguousarray(planes[c]) for c in order])
    # x*127.5+127.5 maps [-1, 1] to [0, 255]; convertScaleAbs rounds and saturates to uint8.
    styled = cv2.convertScaleAbs(hwc, alpha=127.5, beta=127.5)
    if styled.shape[:2] != color.shape[:2]:
        styled = cv2.resize(styled, (color.shape[1], color.shape[0]), interpolation=cv2.INTER_LINEAR)
    if strength < 1.0:
        styled = cv2.addWeighted(np.ascontiguousarray(color), 1.0 - strength, styled, strength, 0.0)
    return styled


def keep_colors(styled: np.ndarray, original: np.ndarray, color_order: str) -> np.ndarray:
    """The stylized luminance with the original's chrominance (YCrCb), both HxWx3 uint8."""
    to, back = ((cv2.COLOR_BGR2YCrCb, cv2.COLOR_YCrCb2BGR) if color_order == "bgr"
                else (cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB))
    mixed = cv2.cvtColor(np.ascontiguousarray(original), to)
    mixed[:, :, 0] = cv2.cvtColor(styled, to)[:, :, 0]
    return cv2.cvtColor(mixed, back)


# Input change (max over channels, uint8 steps) at which temporal smoothing fades out completely.
TEMPORAL_FADE = 24.0
# Output change (max over channels, uint8 steps, this frame's stylized pixel against the previous output) at
# which it fades out too. A few steps of input change in dark texture can draw or erase a whole sketch line;
# gated by the input alone, the stale line survived the frame (99.9th percentile 49 steps on a panning clip,
# 11 with this gate), while the generator's frame-to-frame noise on a still scene is still cut to 0.37 of
# itself (0.32 without; tests/sdk/test_style_options.py). A power of two: the kernels divide exactly.
OUTPUT_FADE = 64.0


def temporal_blend(styled: np.ndarray, previous_out: np.ndarray, color: np.ndarray, previous_in: np.ndarray,
                   temporal: float) -> np.ndarray:
    """Blend the stylized frame (uint8) toward the previous output where neither the input nor the output changed much.

    ``out = styled + (previous_out - styled) * w``, ``w = temporal * max(0, 1 - |input change| / TEMPORAL_FADE)
    * max(0, 1 - |output change| / OUTPUT_FADE)``: static regions keep what they showed (no flicker from the
    generator's frame-to-frame noise), moving regions and lines that appear or vanish follow the new frame (no
    ghost trails). The kernels (kernels/pixel_math.cuh, stylize_kernels.cu) compute the same, bit for bit.
    """
    change = cv2.absdiff(np.ascontiguousarray(color), previous_in).max(axis=2).astype(np.float32)
    weight = np.clip(1.0 - change / TEMPORAL_FADE, 0.0, 1.0) * temporal
    output_change = cv2.absdiff(np.ascontiguousarray(styled), previous_out).max(axis=2).astype(np.float32)
    weight = weight * np.clip(1.0 - output_change / OUTPUT_FADE, 0.0, 1.0)
    out = styled + (previous_out.astype(np.float32) - styled) * weight[:, :, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def restore_layout(styled: np.ndarray, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
    """Give the stylized 3-channel result the input's layout (gray shape, alpha channel)."""
    if info.kind == "gray":
        return cv2.cvtColor(styled, cv2.COLOR_BGR2GRAY).reshape(frame.shape)
    if info.kind == "alpha":
        return np.concatenate([styled, frame[:, :, 3:4]], axis=2)
    return styled
