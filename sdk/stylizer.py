"""`Stylizer`: one object per model + backend; `stylize_frame` for the one-liner."""
from __future__ import annotations

import difflib
import threading
import time
from collections import deque
from typing import Iterable, Iterator, Mapping, Union

import cv2
import numpy as np

from sdk import frames
from sdk.errors import InvalidArgumentError, InvalidFrameError, StylizerClosedError, UnknownStyleError
from sdk.package import ModelPackage, load_package

StyleSpec = Union[None, str, int, Mapping[str, float]]
STAGES = ("pre", "infer", "post")
PRECISIONS = ("auto", "fp32", "fp16", "int8")


class StageTimer:
    """Keeps the last ``window`` per-stage latencies (seconds) for p50/p95 reports."""

    def __init__(self, window: int = 10_000):
        self._samples = {s: deque(maxlen=window) for s in STAGES + ("total",)}
        # Frames finish on several threads; summary() must not iterate a deque another thread appends to.
        self._lock = threading.Lock()

    def add(self, pre: float, infer: float, post: float) -> None:
        with self._lock:
            for name, value in zip(STAGES + ("total",), (pre, infer, post, pre + infer + post)):
                self._samples[name].append(value)

    def add_total(self, total: float) -> None:
        """A frame whose stages ran fused on a device (no separate pre/infer/post times)."""
        with self._lock:
            self._samples["total"].append(total)

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {"p50_ms", "p95_ms", "count"}}; empty stages are left out."""
        with self._lock:
            snapshot = {name: list(values) for name, values in self._samples.items()}
        out = {}
        for name, values in snapshot.items():
            if values:
                arr = np.asarray(values, float) * 1e3
                out[name] = {"p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
                             "count": len(arr)}
        return out

    def clear(self) -> None:
        with self._lock:
            for v in self._samples.values():
                v.clear()


class Stylizer:
    """Stylizes video frames with a model package on one backend.

    Args:
        model: package folder; ``None`` is the default package shipped in ``sdk/models/default``.
        style: default style: a name (``"glow"``), an index, or a mix ``{"glow": 0.7, "vintage": 0.3}``;
            ``None`` is the package's first style.
        backend: ``"auto"`` (TensorRT/torch-cuda on a GPU when present, else ONNX Runtime CPU),
            ``"onnxruntime"``, ``"torch"`` (CPU) or ``"torch-cuda"``. A named backend that cannot
            run here raises :class:`~sdk.errors.BackendUnavailableError`; there is no silent fallback.
        strength: 0..1, blend of the stylized frame over the original (1 = fully stylized).
        color_order: ``"bgr"`` (OpenCV, default) or ``"rgb"``.
        max_side: long side the generator runs at, at most (see :mod:`sdk.frames`); default from the package.
        max_frame: largest accepted frame (width, height), default 7680x4320.
        precision: ``"auto"``, ``"fp32"``, ``"fp16"`` or ``"int8"``. ``"auto"`` is FP16 on torch-cuda and
            TensorRT; on ONNX Runtime (CPU) it is the package variant (pruned and/or quantized) with the
            lowest recorded CPU latency among those that pass their fidelity floor against the FP32 model.
        preserve_color: keep the input's colours: the stylized luminance with the original
            chrominance (YCrCb), e.g. a sketch or grade that should not recolour skin.
        temporal: 0 (off) to 0.95, run-time smoothing for video: each pixel is blended toward the
            previous output by this much where neither the input pixel nor its stylized value
            changed much (fading out by an input change of 24 levels and an output change of 64),
            which steadies static regions without ghosting moving ones or lines that appear.
            Stateful: one Stylizer per video stream; ``reset()`` at a cut.
        variant: a package variant by name (e.g. ``"pruned50"``, ``"int8"``; see
            ``Stylizer.package.variants``) instead of the automatic choice.

    Example::

        with sdk.Stylizer(style="vintage") as stylizer:
            out = stylizer(frame)          # HxWx3 uint8 BGR in, same out
    """

    def __init__(self, model: str | None = None, style: StyleSpec = None, backend: str = "auto",
                 strength: float = 1.0, color_order: str = "bgr", max_side: int | None = None,
                 max_frame: tuple[int, int] = frames.DEFAULT_MAX_FRAME, precision: str = "auto",
                 variant: str | None = None, preserve_color: bool = False, temporal: float = 0.0):
        from sdk.backends import load_backend

        self.package: ModelPackage = load_package(model)
        self.color_order = _check_color_order(color_order)
        self.strength = _check_strength(strength)
        self.max_side = _check_max_side(max_side, self.package)
        self.max_frame = _check_max_frame(max_frame)
        if precision not in PRECISIONS:
            raise InvalidArgumentError(f"precision is {precision!r}; expected one of {PRECISIONS}.")
        self._default_style = self.style_vector(style)
        self._default_spec = style
        self.preserve_color = bool(preserve_color)
        self.temporal = _check_temporal(temporal)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (input, output) of the last frame
        self._previous_lock = threading.Lock()
        self.timer = StageTimer()
        self._backend = load_backend(backend, self.package, precision, variant)

    # -- public API -------------------------------------------------------------------
    @property
    def styles(self) -> tuple[str, ...]:
        return self.package.style_names

    @property
    def backend(self) -> str:
        """What runs the generator, e.g. ``"onnxruntime on cpu (fp32)"``."""
        return self._backend.describe()

    def __call__(self, frame: np.ndarray, style: StyleSpec = None, strength: float | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Stylize one frame; see :mod:`sdk.frames` for the frame contract.

        Returns a new array of the frame's shape and dtype, or ``out`` filled in. On the torch-cuda
        and tensorrt backends ``frame`` may be a device array (``__cuda_array_interface__``: torch,
        CuPy, Numba, pycuda): it never leaves the GPU, and the result is a torch CUDA tensor (wrap it
        zero-copy with e.g. ``cupy.asarray``), or ``out``, a device array, filled in.
        """
        if self._is_device_frame(frame):
            return self._device_call(frame, style, strength, out, submit=False)
        info, style_vec, strength = self._arguments(frame, style, strength)
        if out is not None:
            _check_out(out, frame)
        result = self._stylize(frame, info, style_vec, strength)
        if out is not None:
            out[...] = result
            return out
        return result

    stylize = __call__

    def submit(self, frame: np.ndarray, style: StyleSpec = None, strength: float | None = None) -> "PendingFrame":
        """Start a frame; :meth:`PendingFrame.result` returns it. For a video loop, :meth:`stream`
        does the double buffering (frame N is submitted before frame N-1's result is taken).

        On a backend that pipelines (torch-cuda: two slots of pinned buffers and streams), the
        frame's upload and processing overlap the caller's work until ``result()``; collect results
        in submission order, at most two outstanding. Elsewhere the frame is stylized here and
        ``result()`` returns it. Device frames work as in :meth:`__call__`.
        """
        if self._is_device_frame(frame):
            return self._device_call(frame, style, strength, None, submit=True)
        info, style_vec, strength = self._arguments(frame, style, strength)
        if self._backend.pipelined and strength > 0.0 and info.kind != "gray":
            color = frames.as_color(frame, info)
            started = time.perf_counter()
            temporal = self._fused_temporal(info)
            handle = self._backend.submit_frame(*self._device_input(frame, info, color), self._working_size(info),
                                                style_vec, strength, temporal=temporal)
            if handle is not None:
                return PendingFrame(self, info, frame, color, handle=handle, started=started, smoothed=bool(temporal))
        return PendingFrame(self, info, frame, None, done=self._stylize(frame, info, style_vec, strength))

    def stream(self, frames: Iterable, style: StyleSpec = None, strength: float | None = None) -> Iterator:
        """Stylize an iterable of frames, yielding each result in order, with frame N submitted before
        frame N-1's result is collected: on a pipelining backend (torch-cuda, tensorrt) N uploads and runs
        while the caller encodes or shows N-1. At most two frames are in flight; a frame's result is
        yielded before the frame after next is read. Works with host and device frames::

            for out in stylizer.stream(frames):
                writer.write(out)
        """
        pending = None
        try:
            for frame in frames:
                previous, pending = pending, self.submit(frame, style=style, strength=strength)
                if previous is not None:
                    yield previous.result()
            if pending is not None:
                last, pending = pending, None
                yield last.result()
        finally:
            if pending is not None:  # the caller stopped early: free the backend's slot
                pending.result()

    def _is_device_frame(self, frame) -> bool:
        """A device array for a backend that reads device frames (others refuse it in check_frame)."""
        if isinstance(frame, np.ndarray) or not self._backend.device_frames:
            return False
        try:
            return hasattr(frame, "__cuda_array_interface__")
        except Exception:  # a torch tensor that requires grad: check_device_frame says why
            return True

    def _device_call(self, frame, style: StyleSpec, strength, out, submit: bool):
        """A device frame through the backend's GPU pipeline: it is read in GPU memory and the result
        stays there. Smoothing over time runs in the post kernel; preserve_color (a CPU step) is refused."""
        info, device = frames.check_device_frame(frame, self.max_frame)
        style_vec, strength = self._style_and_strength(style, strength)
        if self.preserve_color:
            raise InvalidArgumentError(f"preserve_color runs on the CPU, so it takes host frames; got a device frame "
                                       f"({type(frame).__name__}). Turn preserve_color off or copy the frame to the "
                                       "host (e.g. .cpu().numpy()).")
        target = None
        if out is not None:
            _, target = frames.check_device_frame(out, self.max_frame, name="out")
            if target.shape != device.shape or target.readonly:
                raise InvalidArgumentError(f"out is a {'read-only ' if target.readonly else ''}device array of shape "
                                           f"{target.shape}; expected a writable one of the frame's shape "
                                           f"{device.shape}, uint8.")
        order = self.color_order + ("a" if info.kind == "alpha" else "")
        temporal = self._fused_temporal(info)
        with self._previous_lock:
            self._previous = None  # the device holds this stream's previous frame now
        started = time.perf_counter()
        size = self._working_size(info)
        if submit:
            handle = self._backend.submit_frame(device, order, size, style_vec, strength, temporal=temporal)
            return PendingFrame(self, info, frame, None, handle=handle, started=started, smoothed=bool(temporal),
                                on_device=True)
        result = self._backend.stylize_frame(device, order, size, style_vec, strength, temporal=temporal,
                                             out=target)
        self.timer.add_total(time.perf_counter() - started)
        return result

    def _arguments(self, frame, style: StyleSpec, strength) -> tuple[frames.FrameInfo, np.ndarray, float]:
        """The one validation of a call's frame, style and strength (typed errors, no pass over pixels)."""
        if self._backend is None:
            raise StylizerClosedError("this Stylizer is closed; create a new one (or use it inside its `with` block).")
        info = frames.check_frame(frame, self.max_frame)
        return (info, *self._style_and_strength(style, strength))

    def _style_and_strength(self, style: StyleSpec, strength) -> tuple[np.ndarray, float]:
        """A call's style vector and strength, the stylizer's own where not given."""
        strength = self.strength if strength is None else _check_strength(strength)
        return (self._default_style if style is None else self.style_vector(style)), strength

    def reset(self) -> None:
        """Forget the previous frame (temporal smoothing starts afresh, e.g. at a scene cut)."""
        with self._previous_lock:
            self._previous = None
        self._reset_backend_temporal()

    def style_vector(self, style: StyleSpec) -> np.ndarray:
        """(1, N, 1, 1) float32 style weights for a name, index or {name: weight} mix."""
        names = self.package.style_names
        vec = np.zeros((1, len(names), 1, 1), np.float32)
        if style is None:
            vec[0, 0] = 1.0
        elif isinstance(style, str):
            vec[0, _style_index(style, names)] = 1.0
        elif isinstance(style, (int, np.integer)) and not isinstance(style, bool):
            if not 0 <= style < len(names):
                raise UnknownStyleError(f"style index {style} is out of range; this model has {len(names)} "
                                        f"styles (0..{len(names) - 1}): {', '.join(names)}.")
            vec[0, int(style)] = 1.0
        elif isinstance(style, Mapping):
            if not style:
                raise UnknownStyleError("style mix is empty; give weights such as {'glow': 0.7, 'vintage': 0.3}.")
            for name, weight in style.items():
                w = float(weight) if isinstance(weight, (int, float, np.number)) else float("nan")
                if not np.isfinite(w) or w < 0:
                    raise UnknownStyleError(f"style mix weight for {name!r} is {weight!r}; expected a finite number >= 0.")
                vec[0, _style_index(name, names)] += w
            total = vec.sum()
            if total <= 0:
                raise UnknownStyleError(f"style mix {dict(style)} sums to 0; give at least one positive weight.")
            vec /= total
        else:
            raise UnknownStyleError(f"style is {type(style).__name__} {style!r}; expected a style name, an index "
                                    f"or a {{name: weight}} mix of {', '.join(names)}.")
        return vec

    def style_label(self, style: StyleSpec = None) -> str:
        """A short name for a style spec (the stylizer's own where None): "glow", or "glow 70% + vintage 30%"."""
        vec = self.style_vector(self._default_spec if style is None else style)[0, :, 0, 0]
        used = [(name, w) for name, w in zip(self.styles, vec) if w > 0]
        if len(used) == 1:
            return used[0][0]
        return " + ".join(f"{name} {100 * w:.0f}%" for name, w in used)

    def stats(self) -> dict[str, dict[str, float]]:
        """p50/p95 latency per stage (pre, infer, post, total) over the recent frames."""
        return self.timer.summary()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> "Stylizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- implementation -----------------------------------------------------------------
    def _stylize(self, frame: np.ndarray, info: frames.FrameInfo, style_vec: np.ndarray,
                 strength: float) -> np.ndarray:
        if strength == 0.0:
            return frame.copy()
        color = frames.as_color(frame, info)
        return self._finish(*self._stylize_color(frame, info, color, style_vec, strength), color, info)

    def _fused_temporal(self, info: frames.FrameInfo) -> float:
        """The temporal weight to hand a GPU backend whose post kernel smooths (0: the CPU smooths
        after, in _finish). Not with preserve_color (it comes first, on the CPU) or gray frames."""
        if (self.temporal > 0.0 and not self.preserve_color and info.kind != "gray"
                and self._backend.fused_temporal):
            return self.temporal
        return 0.0

    def _reset_backend_temporal(self) -> None:
        self._backend.reset_temporal()

    def _finish(self, result: np.ndarray, smoothed: bool, color: np.ndarray, info: frames.FrameInfo) -> np.ndarray:
        """preserve_color and temporal smoothing (unless the backend ``smoothed`` already): per stream, in
        frame order. The smoothing state lives where the last frame was smoothed, so a switch between the
        GPU and CPU paths (preserve_color turned on, a gray frame) starts smoothing afresh: a fused
        backend called with temporal=0 forgets its previous frame, and a smoothed one clears ours."""
        if self.preserve_color and info.kind != "gray":
            result = self._with_color(result, frames.keep_colors(result[:, :, :3], color, self.color_order), info)
        if smoothed:
            with self._previous_lock:
                self._previous = None
        elif self.temporal > 0.0:
            result = self._smooth(result, color, info)
        return result

    @staticmethod
    def _with_color(result: np.ndarray, rgb: np.ndarray, info: frames.FrameInfo) -> np.ndarray:
        if info.kind == "alpha":
            result = result.copy()
            result[:, :, :3] = rgb
            return result
        return rgb

    def _smooth(self, result: np.ndarray, color: np.ndarray, info: frames.FrameInfo) -> np.ndarray:
        styled = result if info.kind != "alpha" else result[:, :, :3]
        styled3 = styled if styled.ndim == 3 and styled.shape[2] == 3 else cv2.cvtColor(
            styled.reshape(info.height, info.width), cv2.COLOR_GRAY2BGR)
        with self._previous_lock:
            previous = self._previous
            if previous is not None and previous[0].shape == color.shape:
                styled3 = frames.temporal_blend(styled3, previous[1], color, previous[0], self.temporal)
            self._previous = (np.array(color, copy=True), styled3)
        if info.kind == "gray":
            return cv2.cvtColor(styled3, cv2.COLOR_BGR2GRAY).reshape(result.shape)
        return self._with_color(result, styled3, info)

    def _working_size(self, info: frames.FrameInfo) -> tuple[int, int]:
        return frames.working_size(info.height, info.width, self.package.stride, self.max_side, self.package.min_side)

    def _device_input(self, frame: np.ndarray, info: frames.FrameInfo, color: np.ndarray) -> tuple[np.ndarray, str]:
        """What a fused GPU path reads and its channel order: BGRA/RGBA frames whole, others as 3 channels."""
        if info.kind == "alpha":
            return frame, self.color_order + "a"
        return color, "bgr" if info.kind == "gray" else self.color_order

    def _stylize_color(self, frame: np.ndarray, info: frames.FrameInfo, color: np.ndarray, style_vec: np.ndarray,
                       strength: float) -> tuple[np.ndarray, bool]:
        """The stylized frame, and whether the backend already smoothed it over time."""
        t0 = time.perf_counter()
        size = self._working_size(info)
        temporal = self._fused_temporal(info)
        result = self._backend.stylize_frame(*self._device_input(frame, info, color), size, style_vec, strength,
                                             temporal=temporal)
        if result is not None:
            self.timer.add_total(time.perf_counter() - t0)
            return (frames.restore_layout(result[:, :, :3], frame, info) if info.kind != "color" else result,
                    bool(temporal))
        # Gray frames are replicated to 3 equal channels: channel order is irrelevant there.
        order = "bgr" if info.kind == "gray" else self.color_order
        image = frames.preprocess(color, size, order)
        t1 = time.perf_counter()
        styled = self._backend.run(image, style_vec)
        t2 = time.perf_counter()
        result = frames.restore_layout(frames.postprocess(styled, color, strength, order), frame, info)
        t3 = time.perf_counter()
        self.timer.add(t1 - t0, t2 - t1, t3 - t2)
        return result, False


class PendingFrame:
    """A frame started by :meth:`Stylizer.submit`; :meth:`result` waits for it (once)."""

    def __init__(self, stylizer: Stylizer, info: frames.FrameInfo, frame: np.ndarray, color, handle=None,
                 done: np.ndarray | None = None, started: float = 0.0, smoothed: bool = False,
                 on_device: bool = False):
        # The frame stays referenced until result(): a device frame is read by the GPU until then.
        self._stylizer, self._info, self._frame, self._color = stylizer, info, frame, color
        self._handle, self._done, self._started, self._smoothed = handle, done, started, smoothed
        self._on_device = on_device

    def result(self) -> np.ndarray:
        if self._done is None:
            s = self._stylizer
            out = s._backend.result_frame(self._handle)
            s.timer.add_total(time.perf_counter() - self._started)
            if self._on_device:
                self._done = out
                return out
            if self._info.kind != "color":
                out = frames.restore_layout(out[:, :, :3], self._frame, self._info)
            self._done = s._finish(out, self._smoothed, self._color, self._info)
        return self._done


def _style_index(name: str, names: tuple[str, ...]) -> int:
    if name in names:
        return names.index(name)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownStyleError(f"Unknown style {name!r}.{hint} Available: {', '.join(names)}.")


def _check_strength(strength: float) -> float:
    if isinstance(strength, (str, bytes)) or not isinstance(strength, (int, float, np.number)):
        raise InvalidArgumentError(f"strength is {type(strength).__name__} {strength!r}; expected a number from 0 to 1.")
    value = float(strength)
    if not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"strength is {strength!r}; expected a number from 0 to 1 "
                                   "(0 = original, 1 = fully stylized).")
    return value


def _check_temporal(temporal: object) -> float:
    if isinstance(temporal, bool) or not isinstance(temporal, (int, float, np.number)) or not 0 <= temporal <= 0.95:
        raise InvalidArgumentError(f"temporal is {temporal!r}; expected a number from 0 (off) to 0.95 "
                                   "(the share of the previous output kept where input and output are still).")
    return float(temporal)


def _check_color_order(order: str) -> str:
    if order not in frames.COLOR_ORDERS:
        raise InvalidArgumentError(f"color_order is {order!r}; expected one of {frames.COLOR_ORDERS}.")
    return order


def _check_max_side(max_side: object, package: ModelPackage) -> int:
    if max_side is None:
        return package.max_side
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < package.min_side:
        raise InvalidArgumentError(f"max_side is {max_side!r}; expected an int of at least {package.min_side} "
                                   f"(the model's smallest side), e.g. {package.max_side}.")
    return int(max_side)


def _check_max_frame(max_frame: object) -> tuple[int, int]:
    try:
        width, height = max_frame
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (width, height))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidArgumentError(f"max_frame is {max_frame!r}; expected (width, height) positive ints, "
                                   "e.g. (7680, 4320).")
    return int(width), int(height)


def _check_out(out: object, frame: np.ndarray) -> None:
    if not isinstance(out, np.ndarray) or out.shape != frame.shape or out.dtype != np.uint8:
        got = f"{type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}".strip()
        raise InvalidFrameError(f"out is {got}; expected a uint8 array of the frame's shape {frame.shape}.")
    if not out.flags.writeable:
        raise InvalidFrameError("out is read-only; pass a writeable uint8 array or omit out=.")


_default: Stylizer | None = None
_default_lock = threading.Lock()


def default_stylizer() -> Stylizer:
    """The shared Stylizer behind :func:`stylize_frame`, created once, thread-safely."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Stylizer()
    return _default


def stylize_frame(frame: np.ndarray, style: StyleSpec = None, strength: float = 1.0,
                  color_order: str = "bgr") -> np.ndarray:
    """Stylize one frame with the shipped default model on the best backend here.

    ``frame``: HxWx3 uint8 BGR (or ``color_order="rgb"``), HxWx4, or HxW grayscale.
    Returns an array of the same shape and dtype. Example::

        out = sdk.stylize_frame(cv2.imread("photo.jpg"), style="glow", strength=0.8)
    """
    stylizer = default_stylizer()
    if color_order == stylizer.color_order:
        return stylizer(frame, style=style, strength=strength)
    _check_color_order(color_order)
    info = frames.check_frame(frame, stylizer.max_frame)
    swapped = frame[..., [2, 1, 0] + ([3] if info.kind == "alpha" else [])] if info.kind != "gray" else frame
    result = stylizer(swapped, style=style, strength=strength)
    return result[..., [2, 1, 0] + ([3] if info.kind == "alpha" else [])] if info.kind != "gray" else result


def list_styles(model: str | None = None) -> list[str]:
    """Style names of a package (default: the shipped one), without loading any backend."""
    return list(load_package(model).style_names)
