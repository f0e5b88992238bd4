"""Video files out as people play them: H.264 (yuv420p, faststart) MP4 through PyAV, the source's audio kept.

PyAV ships FFmpeg (with libx264) in its wheels, so no system FFmpeg is needed. The audio track is
copied packet for packet where the container can hold its codec, otherwise re-encoded (AAC for
MP4/MOV); it is interleaved with the video as frames are written and trimmed to the video's length
(``max_frames``, Ctrl-C). OpenCV still reads the frames: it rotates them upright by the source's
rotation metadata, so the written picture stands as the source is shown.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from sdk.errors import BackendUnavailableError, InvalidArgumentError, VideoIOError

# The codec each container gets without --codec, and every codec --codec takes (name -> FFmpeg encoder).
DEFAULT_CODECS = {".mp4": "h264", ".mov": "h264", ".mkv": "h264", ".avi": "mjpeg"}
ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "mpeg4": "mpeg4", "mjpeg": "mjpeg"}
PIXEL_FORMATS = {"mjpeg": "yuvj420p"}  # every other codec: yuv420p, what browsers and phones decode
AUDIO_FALLBACK = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".avi": "mp3", ".flv": "aac", ".mpegts": "aac",
                  ".rtsp": "aac"}
# Audio codecs copied without re-encoding (FFmpeg's list of what a muxer "supports" is wider than what
# it writes: PCM into MP4 fails at the trailer). Matroska takes whatever FFmpeg says it supports.
AUDIO_COPYABLE = {".mp4": {"aac", "mp3", "alac", "opus", "flac", "ac3", "eac3"},
                  ".mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
                  ".avi": {"mp3", "ac3", "pcm_s16le"}, ".flv": {"aac", "mp3"}, ".mpegts": {"aac", "mp3", "ac3"},
                  ".rtsp": {"aac", "mp3", "ac3", "opus"}}


def _av():
    try:
        import av
    except ImportError:
        raise BackendUnavailableError("writing video needs PyAV (FFmpeg in its wheels): `pip install av`; "
                                      "it is a dependency of stylizer-sdk, so reinstalling the package adds it") from None
    return av


# Stream outputs: scheme -> FFmpeg muxer. RTSP pushes to a server (ANNOUNCE/RECORD), RTMP as FLV, the rest MPEG-TS.
SINK_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "udp": "mpegts", "srt": "mpegts", "tcp": "mpegts"}
STREAM_CODECS = ("h264", "hevc")


def parse_sink(dst: str | os.PathLike) -> tuple[Path | None, str | None]:
    """(local path, None) for a path or ``file://`` URI; (None, muxer) for a stream URI such as ``rtsp://host/x``."""
    from urllib.parse import unquote, urlparse

    if isinstance(dst, os.PathLike):
        return Path(dst), None
    url = urlparse(str(dst))
    if not url.scheme or len(url.scheme) == 1:
        return Path(str(dst)), None
    scheme = url.scheme.lower()
    if scheme == "file":
        return Path(unquote(url.path)), None
    if scheme in SINK_FORMATS:
        return None, SINK_FORMATS[scheme]
    raise InvalidArgumentError(f"output {dst!r}: the scheme {scheme + '://'!r} is not supported; expected a path, "
                               f"file:// or a stream: {', '.join(s + '://' for s in SINK_FORMATS)}")


def make_parent(path: Path) -> None:
    """Create ``path``'s folder, or say in one line why it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VideoIOError(f"cannot write {path}: its folder {path.parent} cannot be created ({exc.strerror}); "
                           "give a path in a writable folder") from None


def check_video_path(path: str | os.PathLike, codec: str | None = None) -> str:
    """The codec that ``path`` (a file, ``file://`` or a stream URI) will be written with; a typed error for a
    suffix, scheme or codec that cannot be."""
    local, stream_format = parse_sink(path)
    if stream_format:
        codec = codec or "h264"
        if codec not in STREAM_CODECS:
            raise InvalidArgumentError(f"codec {codec!r} cannot be streamed to {path}; expected one of "
                                       f"{', '.join(STREAM_CODECS)}")
        return codec
    path = local
    suffix = Path(path).suffix.lower()
    if suffix not in DEFAULT_CODECS:
        raise InvalidArgumentError(f"video output {path}: the suffix {suffix or '(none)'!r} is not a video "
                                   f"container; expected one of {', '.join(DEFAULT_CODECS)}")
    codec = codec or DEFAULT_CODECS[suffix]
    if codec not in ENCODERS:
        raise InvalidArgumentError(f"codec {codec!r} is not supported; expected one of {', '.join(ENCODERS)}")
    return codec


def source_info(path: Path) -> tuple[Fraction | None, object]:
    """(frame rate, audio stream's container or None) of a video file, as PyAV reads it; (None, None) when
    PyAV cannot open it (OpenCV may still read the frames)."""
    av = _av()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError):
        return None, None
    rate = None
    if container.streams.video:
        video = container.streams.video[0]
        rate = video.average_rate or video.guessed_rate
    if not container.streams.audio:
        container.close()
        return rate, None
    return rate, container


class VideoWriter:
    """Encode BGR uint8 frames to ``path``; ``audio_from`` is an open PyAV input whose first audio stream is muxed in."""

    def __init__(self, path: str | os.PathLike, rate: Fraction, size_wh: tuple[int, int], codec: str | None = None,
                 audio_from=None):
        av = self._av = _av()
        codec = check_video_path(path, codec)
        local, stream_format = parse_sink(path)
        self.path = local or str(path)
        if local is not None:
            make_parent(local)
            suffix = local.suffix.lower()
            options = {"movflags": "+faststart"} if suffix in (".mp4", ".mov") else {}
        else:
            suffix = "." + stream_format
            options = {"rtsp_transport": "tcp"} if stream_format == "rtsp" else {}
        # Encoders with 4:2:0 chroma need even sides: the frame is padded by one replicated row/column.
        self.size_wh = size_wh
        self._padded_wh = (size_wh[0] + size_wh[0] % 2, size_wh[1] + size_wh[1] % 2)
        try:
            self.container = av.open(str(self.path), "w", format=stream_format, container_options=options)
        except (av.error.FFmpegError, OSError) as exc:
            where = "use a writable folder" if local is not None else "check that the server runs and accepts it"
            raise VideoIOError(f"cannot write video {self.path} ({exc}); {where}") from None
        try:
            self.stream = self.container.add_stream(ENCODERS[codec], rate=rate)
            self.stream.width, self.stream.height = self._padded_wh
            self.stream.pix_fmt = PIXEL_FORMATS.get(codec, "yuv420p")
            if codec == "h264":
                self.stream.options = {"preset": "veryfast", "crf": "20"}
                if local is None:
                    self.stream.options["tune"] = "zerolatency"  # no frame look-ahead: live latency
            self._audio_in = self._audio_out = self._audio_packets = self._resampler = None
            self._pending_audio = None
            if audio_from is not None:
                self._add_audio(audio_from, suffix)
        except Exception:
            self.container.close()
            if local is not None:
                local.unlink(missing_ok=True)
            if audio_from is not None:
                audio_from.close()
            raise
        self.rate = Fraction(rate)
        self.frames = 0

    def _add_audio(self, source, suffix: str) -> None:
        template = source.streams.audio[0]
        self._audio_in = source
        name = template.codec_context.name
        if name in AUDIO_COPYABLE.get(suffix, self.container.supported_codecs):
            self._audio_out = self.container.add_stream_from_template(template)
        else:  # e.g. PCM from an AVI into MP4: re-encode
            av = self._av
            self._audio_out = self.container.add_stream(AUDIO_FALLBACK[suffix], rate=template.rate)
            # By channel count: a source's layout may be unnamed ("2 channels"), which the encoder refuses.
            self._audio_out.layout = "mono" if template.channels == 1 else "stereo"
            self._resampler = av.AudioResampler(format=self._audio_out.format.name, layout=self._audio_out.layout.name,
                                                rate=template.rate)
        self._audio_packets = source.demux(template)

    @property
    def has_audio(self) -> bool:
        return self._audio_out is not None

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._padded_wh != self.size_wh:
            frame_bgr = np.pad(frame_bgr, ((0, self._padded_wh[1] - frame_bgr.shape[0]),
                                           (0, self._padded_wh[0] - frame_bgr.shape[1]), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1
        self._mux_audio_until(self.frames / self.rate)

    def _mux_audio_until(self, seconds: Fraction | None) -> None:
        """Audio packets that start before ``seconds`` (None: none; the rest is dropped at close)."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._pending_audio or next(self._audio_packets, None)
            self._pending_audio = None
            if packet is None:
                self._audio_packets = None
                self._flush_audio_encoder()
                return
            if packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            if seconds is None or packet.pts * packet.time_base >= seconds:
                self._pending_audio = packet
                return
            if self._resampler is None:
                packet.stream = self._audio_out
                self.container.mux(packet)
            else:
                for decoded in packet.decode():
                    for frame in self._resampler.resample(decoded):
                        frame.pts = None  # the encoder counts samples from 0
                        for out in self._audio_out.encode(frame):
                            self.container.mux(out)

    def _flush_audio_encoder(self) -> None:
        if self._resampler is not None:
            for out in self._audio_out.encode(None):
                self.container.mux(out)
            self._resampler = None

    def close(self) -> None:
        """Flush the encoder and write the index (moved to the front: faststart); safe to call twice."""
        if self.container is None:
            return
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self._audio_out is not None:
                self._mux_audio_until(self.frames / self.rate)  # the audio under the last frame
                self._audio_packets = None
                self._flush_audio_encoder()
        finally:
            self.container.close()
            self.container = None
            if self._audio_in is not None:
                self._audio_in.close()


def write_video(path: str | os.PathLike, frames, rate: float = 30, codec: str | None = None) -> Path:
    """Write a list of BGR uint8 frames (H.264 MP4 by default); returns the path."""
    frames = list(frames)
    if not frames:
        raise InvalidArgumentError(f"no frames to write to {path}")
    writer = VideoWriter(path, Fraction(rate).limit_denominator(1001), (frames[0].shape[1], frames[0].shape[0]), codec)
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.close()
    return Path(path)
