"""Video files and cameras through a Stylizer.

File to file never drops a readable frame. A live camera drops the *oldest* waiting frame
when the stylizer falls behind (the newest frame wins, so latency stays bounded) and
counts the drops. Empty frames from a faulty source are dropped and counted; a source
that fails to read, or gives MAX_BAD_READS empty frames in a row, ends the run cleanly
(``VideoResult.ended_early`` says whether a file stopped short of its announced length).
The output is always closed properly, also on Ctrl-C or an error.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2

from sdk.errors import VideoIOError

# Empty frames in a row after which a source counts as ended (a camera that stopped delivering).
MAX_BAD_READS = 30


@dataclass
class VideoResult:
    frames: int
    dropped: int
    seconds: float
    stages: dict = field(default_factory=dict)
    interrupted: bool = False
    expected: int | None = None  # frames the source announced (files), None for cameras

    @property
    def ended_early(self) -> bool:
        """The source stopped before the frames it announced (truncated or corrupt file)."""
        return not self.interrupted and self.expected is not None and self.frames + self.dropped < self.expected

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class Progress:
    """A one-line progress display on stderr: frames done, total, FPS."""

    def __init__(self, total: int | None, stream=None, every: float = 0.25):
        self.total, self.stream, self.every = total, stream or sys.stderr, every
        self.start = self._last = time.perf_counter()

    def update(self, done: int, dropped: int = 0) -> None:
        now = time.perf_counter()
        if now - self._last < self.every and done != self.total:
            return
        self._last = now
        fps = done / max(now - self.start, 1e-9)
        total = f"/{self.total}" if self.total else ""
        drops = f", {dropped} dropped" if dropped else ""
        self.stream.write(f"\rstylize: {done}{total} frames, {fps:6.1f} FPS{drops}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def open_source(src: str | int | os.PathLike) -> cv2.VideoCapture:
    if isinstance(src, int):
        cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            raise VideoIOError(f"camera {src} could not be opened; check that it is connected and not in use, "
                               "or pass a video file path.")
        return cap
    path = Path(src)
    if not path.is_file():
        raise VideoIOError(f"video {path} does not exist; expected a readable video file (mp4, avi, ...).")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoIOError(f"video {path} could not be opened by OpenCV; it is corrupt or in an unsupported "
                           "format. Convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`.")
    return cap


def open_writer(dst: str | os.PathLike, fps: float, size_wh: tuple[int, int]) -> cv2.VideoWriter:
    path = Path(dst)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size_wh)
    if not writer.isOpened():
        raise VideoIOError(f"cannot write video {path} ({size_wh[0]}x{size_wh[1]} at {fps:.1f} FPS); "
                           "use a .mp4 or .avi path in a writable folder.")
    return writer


def stylize_video(src: str | int | os.PathLike, dst: str | os.PathLike, style=None, strength: float | None = None,
                  stylizer=None, backend: str = "auto", max_frames: int | None = None,
                  progress: bool | Callable[[int, int], None] = False, temporal: float | None = None,
                  preserve_color: bool | None = None) -> VideoResult:
    """Stylize a video file (or camera index ``src``) into ``dst`` (.mp4 or .avi).

    Keeps the source's size and frame rate (30 FPS for cameras that report none).
    ``temporal`` / ``preserve_color`` set those options of the stylizer (see :class:`~sdk.Stylizer`);
    temporal smoothing starts afresh for each video.
    Returns counts, wall time and per-stage latencies. Raises
    :class:`~sdk.errors.VideoIOError` if the source cannot be opened, has no frames,
    or the output cannot be written.
    """
    from sdk.stylizer import Stylizer

    own = stylizer is None
    stylizer = stylizer or Stylizer(style=style, backend=backend)
    if temporal is not None:
        from sdk.stylizer import _check_temporal
        stylizer.temporal = _check_temporal(temporal)
    if preserve_color is not None:
        stylizer.preserve_color = bool(preserve_color)
    stylizer.reset()
    cap = open_source(src)
    live = isinstance(src, int)
    total = None if live else int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    if not (0 < fps < 1000):
        fps = 30.0
    bar = Progress(total) if progress is True else None
    report = progress if callable(progress) else (bar.update if bar else None)
    writer, size_wh = None, None
    done = dropped = 0
    interrupted = False
    stylizer.timer.clear()
    start = time.perf_counter()
    frames = _camera_frames(cap, max_frames) if live else _file_frames(cap, max_frames)
    pending = None

    def write(out):
        nonlocal writer, size_wh, done
        if writer is None:
            writer = open_writer(dst, fps, (out.shape[1], out.shape[0]))
            size_wh = (out.shape[1], out.shape[0])
        elif (out.shape[1], out.shape[0]) != size_wh:
            # A stream that changes resolution midway: a video file has one frame size.
            out = cv2.resize(out, size_wh, interpolation=cv2.INTER_AREA)
        writer.write(out if out.ndim == 3 and out.shape[2] == 3 else cv2.cvtColor(out, cv2.COLOR_GRAY2BGR))
        done += 1
        if report:
            report(done, dropped)

    try:
        # Double buffering: frame N is submitted before frame N-1's result is collected, so on a
        # pipelining backend N uploads and runs while N-1 downloads and is encoded.
        for frame, newly_dropped in frames:
            dropped += newly_dropped
            if frame is None:
                continue
            current = stylizer.submit(frame, style=style, strength=strength)
            if pending is not None:
                previous, pending = pending, None
                write(previous.result())
            pending = current
        if pending is not None:
            previous, pending = pending, None
            write(previous.result())
    except KeyboardInterrupt:
        interrupted = True  # keep what was written: the writer is released below
    finally:
        frames.close()
        cap.release()
        if writer is not None:
            writer.release()
        if bar:
            bar.close()
        if own:
            stylizer.close()
    if done == 0 and not interrupted:
        raise VideoIOError(f"video {src} yielded no frames ({dropped} empty reads); it is empty or unreadable.")
    return VideoResult(done, dropped, time.perf_counter() - start, stylizer.timer.summary(), interrupted, total)


def _usable(frame) -> bool:
    return frame is not None and getattr(frame, "size", 0) > 0


def _file_frames(cap: cv2.VideoCapture, max_frames: int | None):
    """Every frame in order. A read that fails ends the file; an empty frame is dropped and counted."""
    count = bad_in_a_row = 0
    while max_frames is None or count < max_frames:
        ok, frame = cap.read()
        if not ok:
            return
        if not _usable(frame):
            bad_in_a_row += 1
            yield None, 1
            if bad_in_a_row >= MAX_BAD_READS:
                return
            continue
        bad_in_a_row = 0
        count += 1
        yield frame, 0


def _camera_frames(cap: cv2.VideoCapture, max_frames: int | None):
    """A reader thread keeps only the newest frame; a frame replaced before it was taken is a drop.

    An empty frame is a drop too; a failed read, or MAX_BAD_READS empty frames in a row, ends the stream.
    """
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    drops = [0]

    def reader():
        bad_in_a_row = 0
        while not stop.is_set():
            ok, frame = cap.read()
            if ok and not _usable(frame):
                drops[0] += 1
                bad_in_a_row += 1
                if bad_in_a_row < MAX_BAD_READS:
                    continue
            if not ok or not _usable(frame):
                slot.put(None)
                return
            bad_in_a_row = 0
            try:
                slot.put_nowait(frame)
            except queue.Full:
                try:
                    slot.get_nowait()
                    drops[0] += 1
                except queue.Empty:
                    pass
                slot.put_nowait(frame)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    count, reported = 0, 0
    try:
        while max_frames is None or count < max_frames:
            frame = slot.get()
            new, reported = drops[0] - reported, drops[0]
            if frame is None:
                if new:
                    yield None, new
                return
            count += 1
            yield frame, new
    finally:
        stop.set()
        thread.join(timeout=1.0)
