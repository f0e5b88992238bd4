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
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
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
    """Progress on stderr: a bar with percentage, frames/s and ETA for a source of known length, a counter
    for cameras and streams. Silent when ``quiet`` or when the stream is not a terminal (no control
    characters in logs)."""

    def __init__(self, total: int | None, stream=None, quiet: bool = False):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        enabled = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        fmt = ("{desc}: {percentage:3.0f}% |{bar:24}| {n_fmt}/{total_fmt} frames, {rate_fmt}, ETA {remaining}{postfix}"
               if total else "{desc}: {n_fmt} frames, {rate_fmt}{postfix}")
        self._bar = tqdm(total=total, desc="stylize", unit="frame", file=self.stream, disable=not enabled,
                         bar_format=fmt, dynamic_ncols=True, mininterval=0.25)
        self._done = 0

    def update(self, done: int, dropped: int = 0) -> None:
        if dropped:
            self._bar.set_postfix_str(f"{dropped} dropped", refresh=False)
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        self._bar.close()


# Source URIs (as jetson-utils takes them) -> how OpenCV opens them. Network streams are live: newest frame wins.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "udp", "srt", "tcp")
SOURCE_SCHEMES = ("file", "v4l2", "http", "https") + STREAM_SCHEMES


@dataclass(frozen=True)
class Source:
    """What a source argument names: ``target`` is what OpenCV opens with ``api``; ``live`` sources drop
    the oldest waiting frame when the stylizer falls behind; ``path`` is set for local files."""
    kind: str  # "file", "camera", "stream" or "gstreamer"
    target: str | int
    api: int = cv2.CAP_ANY
    live: bool = False
    path: Path | None = None

    def __str__(self) -> str:
        return str(self.path or self.target)


def parse_source(src: str | int | os.PathLike) -> Source:
    """A camera index, a path, ``file://``, ``v4l2:///dev/video0`` (or ``v4l2://0``), ``rtsp://``, ``rtmp://``,
    ``udp://``, ``srt://``, ``http(s)://``, or a GStreamer pipeline (``... ! appsink``). An unknown scheme is an
    :class:`~sdk.errors.InvalidArgumentError` listing the supported ones."""
    from urllib.parse import unquote, urlparse

    from sdk.errors import InvalidArgumentError

    if isinstance(src, int) and not isinstance(src, bool):
        return Source("camera", src, live=True)
    if isinstance(src, os.PathLike):
        return Source("file", str(src), path=Path(src))
    text = str(src)
    if text.isdigit():
        return Source("camera", int(text), live=True)
    if " ! " in text or text.rstrip().endswith("appsink"):
        return Source("gstreamer", text, cv2.CAP_GSTREAMER, live=True)
    url = urlparse(text)
    if not url.scheme or len(url.scheme) == 1:  # a plain path (or a Windows drive letter)
        return Source("file", text, path=Path(text))
    scheme = url.scheme.lower()
    if scheme == "file":
        path = Path(unquote(url.netloc + url.path) if url.netloc not in ("", "localhost") else unquote(url.path))
        return Source("file", str(path), path=path)
    if scheme == "v4l2":
        device = unquote(url.netloc + url.path)
        number = re.fullmatch(r"(?:/dev/video)?(\d+)", device)  # OpenCV's V4L2 backend opens by index, not name
        target: str | int = int(number.group(1)) if number else device
        return Source("camera", target, cv2.CAP_V4L2, live=True)
    if scheme in STREAM_SCHEMES:
        return Source("stream", text, cv2.CAP_FFMPEG, live=True)
    if scheme in ("http", "https"):
        return Source("stream", text, cv2.CAP_FFMPEG, live=False)  # usually a file over HTTP: read it all
    raise InvalidArgumentError(f"source {text!r}: the scheme {scheme + '://'!r} is not supported; expected a path, a "
                               f"camera index, {', '.join(s + '://' for s in SOURCE_SCHEMES)} or a GStreamer pipeline")


def _has_gstreamer() -> bool:
    return any(line.strip().startswith("GStreamer:") and "YES" in line for line in cv2.getBuildInformation().splitlines())


def open_source(src: str | int | os.PathLike | Source) -> cv2.VideoCapture:
    source = src if isinstance(src, Source) else parse_source(src)
    if source.kind == "gstreamer" and not _has_gstreamer():
        raise VideoIOError("this OpenCV was built without GStreamer, so a pipeline cannot be a source; use a "
                           "GStreamer-enabled OpenCV (e.g. JetPack's python3-opencv), or a path, v4l2:// or rtsp:// URI")
    if source.kind == "file":
        if source.path.is_dir():
            raise VideoIOError(f"video {source.path} is a folder; expected a video file (give the CLI a folder to "
                               "stylize every file in it)")
        if not source.path.is_file():
            raise VideoIOError(f"video {source.path} does not exist; expected a readable video file (mp4, avi, ...).")
    cap = cv2.VideoCapture(source.target, source.api)
    if not cap.isOpened():
        if source.kind == "camera":
            raise VideoIOError(f"camera {source.target} could not be opened; check that it is connected and not in "
                               "use, or pass a video file path.")
        if source.kind == "file":
            raise VideoIOError(f"video {source.path} could not be opened by OpenCV; it is corrupt or in an "
                               "unsupported format. Convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`.")
        raise VideoIOError(f"stream {source.target} could not be opened; check the address, that the server is "
                           "running and that this machine can reach it")
    return cap


def stylize_video(src: str | int | os.PathLike, dst: str | os.PathLike, style=None, strength: float | None = None,
                  stylizer=None, backend: str = "auto", max_frames: int | None = None,
                  progress: bool | Callable[[int, int], None] = False, temporal: float | None = None,
                  preserve_color: bool | None = None, codec: str | None = None, audio: bool = True,
                  side_by_side: bool = False) -> VideoResult:
    """Stylize a video file, camera or stream ``src`` into ``dst`` (.mp4, .mov, .mkv or .avi, or a stream URI).

    ``src``: a path, a camera index, or a URI (see :func:`parse_source`: ``file://``, ``v4l2:///dev/video0``,
    ``rtsp://``, ...; a GStreamer pipeline where OpenCV has GStreamer). ``dst``: a path, ``file://``, or a
    stream to push to: ``rtsp://`` (to an RTSP server), ``rtmp://``, ``udp://`` or ``srt://`` (MPEG-TS).

    The output is H.264 (yuv420p, faststart) for .mp4/.mov/.mkv and MJPEG for .avi unless ``codec``
    says otherwise (see ``sdk.encode.ENCODERS``); it keeps the source's size, frame rate and, with
    ``audio``, its audio track (30 FPS for cameras that report none). ``side_by_side`` writes
    input | stylized, labelled. ``temporal`` / ``preserve_color`` set those options of the
    stylizer (see :class:`~sdk.Stylizer`); temporal smoothing starts afresh for each video.
    ``progress``: True for a bar on stderr (shown only on a terminal), or a callable(done, dropped).
    Returns counts, wall time and per-stage latencies. Raises :class:`~sdk.errors.VideoIOError` if
    the source cannot be opened, has no frames, or the output cannot be written, and
    :class:`~sdk.errors.InvalidArgumentError` for an output suffix or codec that cannot be written.
    """
    from sdk.encode import VideoWriter, check_video_path, source_info
    from sdk.stylizer import Stylizer

    check_video_path(dst, codec)  # before anything is opened: a bad argument costs nothing
    own = stylizer is None
    stylizer = stylizer or Stylizer(style=style, backend=backend)
    try:
        if temporal is not None:
            from sdk.stylizer import _check_temporal
            stylizer.temporal = _check_temporal(temporal)
        if preserve_color is not None:
            stylizer.preserve_color = bool(preserve_color)
        stylizer.reset()
        source = parse_source(src)
        cap = open_source(source)
    except BaseException:
        if own:
            stylizer.close()
        raise
    live = source.live
    total = None if live else int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    rate, audio_source = source_info(source.path) if source.path else (None, None)
    if not audio and audio_source is not None:
        audio_source.close()
        audio_source = None
    if rate is None or not (0 < rate < 1000):
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        rate = Fraction(fps).limit_denominator(1001) if 0 < fps < 1000 else Fraction(30)
    bar = Progress(total, quiet=False) if progress is True else None
    report = progress if callable(progress) else (bar.update if bar else None)
    writer: VideoWriter | None = None
    done = dropped = 0
    interrupted = False
    stylizer.timer.clear()
    start = time.perf_counter()
    frames = _camera_frames(cap, max_frames) if live else _file_frames(cap, max_frames)
    inputs: deque = deque()  # the frames in flight, for side by side
    title = stylizer.style_label(style) if side_by_side else None

    def usable_frames():
        nonlocal dropped
        for frame, newly_dropped in frames:
            dropped += newly_dropped
            if frame is not None:
                inputs.append(frame)
                yield frame

    def write(source, out):
        nonlocal writer, done, audio_source
        if out.ndim == 2 or out.shape[2] != 3:
            out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
        if side_by_side:
            out = side_by_side_frame(source, out, title)
        if writer is None:
            writer, audio_source = VideoWriter(dst, rate, (out.shape[1], out.shape[0]), codec, audio_source), None
        elif (out.shape[1], out.shape[0]) != writer.size_wh:
            # A stream that changes resolution midway: a video file has one frame size.
            out = cv2.resize(out, writer.size_wh, interpolation=cv2.INTER_AREA)
        writer.write(out)
        done += 1
        if report:
            report(done, dropped)

    results = stylizer.stream(usable_frames(), style=style, strength=strength)
    try:
        for out in results:  # double-buffered: frame N runs while N-1 is encoded
            write(inputs.popleft(), out)
    except KeyboardInterrupt:
        interrupted = True  # keep what was written: the writer is closed below
    finally:
        results.close()
        frames.close()
        cap.release()
        try:
            if writer is not None:
                writer.close()
        finally:
            if audio_source is not None:
                audio_source.close()
            if bar:
                bar.close()
            if own:
                stylizer.close()
    if done == 0 and not interrupted:
        raise VideoIOError(f"video {src} yielded no frames ({dropped} empty reads); it is empty or unreadable.")
    return VideoResult(done, dropped, time.perf_counter() - start, stylizer.timer.summary(), interrupted, total)


def label(image, text: str, x: int = 0) -> None:
    """Write ``text`` at the top left of the ``x`` offset, outlined so it reads on any picture (in place)."""
    scale = min(max(image.shape[0] / 360, 0.5), 3.0)  # the size of the demo's labels at 360p
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 2)):
        cv2.putText(image, text, (x + 8, int(26 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.75 * scale, colour,
                    thickness, cv2.LINE_AA)


def side_by_side_frame(source, stylized, title: str):
    """input | stylized, each labelled; the source is converted to 3 channels and the stylized size."""
    import numpy as np

    if source.ndim == 2:
        source = cv2.cvtColor(source, cv2.COLOR_GRAY2BGR)
    elif source.shape[2] == 4:
        source = cv2.cvtColor(source, cv2.COLOR_BGRA2BGR)
    if source.shape[:2] != stylized.shape[:2]:
        source = cv2.resize(source, (stylized.shape[1], stylized.shape[0]), interpolation=cv2.INTER_AREA)
    pair = np.concatenate([source, stylized[:, :, :3]], axis=1)
    label(pair, "input", 0)
    label(pair, title, stylized.shape[1])
    return pair


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
