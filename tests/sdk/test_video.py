import io
import cv2
import numpy as np
import pytest

import sdk
from sdk.errors import VideoIOError
from sdk.media import camera_motion_frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory, photos_rgb):
    frames = camera_motion_frames(photos_rgb["astronaut"][:, :, ::-1], 12, (160, 90))
    return write_clip(tmp_path_factory.mktemp("clip") / "in.avi", frames, fps=24), frames


def read_all(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps


def test_camera_motion_clip_moves():
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    frames = camera_motion_frames(image, 5, (64, 48))
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 5


def test_file_to_file_keeps_every_frame_size_and_fps(clip, tmp_path, stylizer):
    src, frames = clip
    result = sdk.stylize_video(src, tmp_path / "out.avi", style="sketch", stylizer=stylizer)
    assert result.frames == 12 and result.dropped == 0 and not result.interrupted
    assert set(result.stages) == {"pre", "infer", "post", "total"}
    written, fps = read_all(tmp_path / "out.avi")
    assert len(written) == 12 and written[0].shape == (90, 160, 3) and fps == pytest.approx(24, abs=0.01)
    # The written frames are the stylized ones (sketch: lighter than the input), in order.
    def luma(f):
        return cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(float).mean()
    assert all(luma(w) > luma(f) + 10 for w, f in zip(written, frames))


def test_max_frames_and_progress_callback(clip, tmp_path, stylizer):
    seen = []
    result = sdk.stylize_video(clip[0], tmp_path / "out.mp4", stylizer=stylizer, max_frames=5,
                               progress=lambda done, dropped: seen.append(done))
    assert result.frames == 5 and seen == [1, 2, 3, 4, 5]
    assert len(read_all(tmp_path / "out.mp4")[0]) == 5


def test_missing_and_corrupt_sources(tmp_path, stylizer):
    with pytest.raises(VideoIOError, match="does not exist"):
        sdk.stylize_video(tmp_path / "nope.mp4", tmp_path / "o.mp4", stylizer=stylizer)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoIOError, match="could not be opened|yielded no frames"):
        sdk.stylize_video(junk, tmp_path / "o.mp4", stylizer=stylizer)


def test_ctrl_c_leaves_a_valid_closed_file(clip, tmp_path, stylizer):
    def interrupt(done, _dropped):
        if done == 4:
            raise KeyboardInterrupt

    result = sdk.stylize_video(clip[0], tmp_path / "out.avi", stylizer=stylizer, progress=interrupt)
    assert result.interrupted and result.frames == 4
    assert len(read_all(tmp_path / "out.avi")[0]) == 4


def test_camera_that_fails_to_open(tmp_path, stylizer):
    with pytest.raises(VideoIOError, match="camera 97 could not be opened; check that it is connected"):
        sdk.stylize_video(97, tmp_path / "o.mp4", stylizer=stylizer)
    assert not (tmp_path / "o.mp4").exists()


def test_truncated_file_stops_cleanly_and_says_it_ended_early(clip, tmp_path, stylizer):
    data = clip[0].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # MJPG AVI: the first half of the frames stay decodable
    result = sdk.stylize_video(cut, tmp_path / "out.avi", stylizer=stylizer)
    written, _ = read_all(tmp_path / "out.avi")
    assert 0 < result.frames < 12 and len(written) == result.frames
    if result.expected is not None:  # the index at the end of the AVI is lost with the cut, the header may say 12
        assert result.ended_early == (result.expected > result.frames)


class FlakySource:
    """A cv2.VideoCapture stand-in: frames, with None/empty entries for faulty reads, then a failed read."""

    def __init__(self, frames, fps=25.0):
        self.frames, self.fps, self.released = list(frames), fps, False

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_COUNT: len(self.frames), cv2.CAP_PROP_FPS: self.fps}.get(prop, 0)

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self):
        self.released = True


@pytest.mark.parametrize("live", [False, True], ids=["file", "camera"])
def test_empty_frames_midway_are_dropped_and_counted(monkeypatch, tmp_path, stylizer, live):
    good = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(6)]
    faulty = [good[0], good[1], None, np.zeros((0, 0, 3), np.uint8), good[2], good[3], None, good[4], good[5]]
    source = FlakySource(faulty)
    monkeypatch.setattr("sdk.video.open_source", lambda src: source)
    result = sdk.stylize_video(0 if live else "clip.avi", tmp_path / "out.avi", stylizer=stylizer)
    assert source.released
    written, _ = read_all(tmp_path / "out.avi")
    if live:  # newest-frame-wins may also drop good frames; every frame is either written or counted
        assert result.frames + result.dropped == 9 and result.dropped >= 3 and result.frames >= 1
    else:
        assert (result.frames, result.dropped, result.ended_early) == (6, 3, False)
    assert len(written) == result.frames


def test_a_source_that_gives_only_empty_frames_is_an_error(monkeypatch, tmp_path, stylizer):
    from sdk.video import MAX_BAD_READS
    source = FlakySource([None] * (MAX_BAD_READS + 5))
    monkeypatch.setattr("sdk.video.open_source", lambda src: source)
    with pytest.raises(VideoIOError, match=f"yielded no frames \\({MAX_BAD_READS} empty reads\\)"):
        sdk.stylize_video("clip.avi", tmp_path / "out.avi", stylizer=stylizer)
    assert source.frames == [None] * 5  # it gave up after MAX_BAD_READS, not at the end of the stream


def test_resolution_change_midway_keeps_the_first_size(monkeypatch, tmp_path, stylizer):
    frames = [np.full((48, 64, 3), 100, np.uint8)] * 3 + [np.full((96, 128, 3), 100, np.uint8)] * 3
    monkeypatch.setattr("sdk.video.open_source", lambda src: FlakySource(frames))
    result = sdk.stylize_video("clip.avi", tmp_path / "out.avi", stylizer=stylizer)
    written, _ = read_all(tmp_path / "out.avi")
    assert result.frames == 6 and len(written) == 6 and {w.shape for w in written} == {(48, 64, 3)}


def test_an_error_midway_still_closes_a_valid_file(clip, tmp_path, stylizer):
    def fail(done, _dropped):
        if done == 3:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        sdk.stylize_video(clip[0], tmp_path / "out.avi", stylizer=stylizer, progress=fail)
    assert len(read_all(tmp_path / "out.avi")[0]) == 3


class RecordingPipelinedBackend:
    """Wraps a CPU backend with the submit_frame/result_frame interface of the GPU pipeline, logging the order."""

    pipelined = True  # submit_frame returns handles

    def __init__(self, stylizer):
        self.inner, self.log, self.results, self.stylizer = stylizer._backend, [], {}, stylizer

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit_frame(self, frame, order, size_hw, style, strength, temporal=0.0):
        from sdk import frames
        handle = len(self.log)
        image = frames.preprocess(frame[:, :, :3], size_hw, order[:3])
        self.results[handle] = frames.postprocess(self.inner.run(image, style), frame[:, :, :3], strength, order[:3])
        self.log.append(("submit", handle))
        return handle

    def result_frame(self, handle):
        self.log.append(("result", handle))
        return self.results.pop(handle)


def test_stylize_video_double_buffers_on_a_pipelining_backend(clip, tmp_path):
    with sdk.Stylizer(backend="onnxruntime") as plain, sdk.Stylizer(backend="onnxruntime") as piped:
        sdk.stylize_video(clip[0], tmp_path / "plain.avi", stylizer=plain)
        backend = RecordingPipelinedBackend(piped)
        piped._backend = backend
        result = sdk.stylize_video(clip[0], tmp_path / "piped.avi", stylizer=piped)
        piped._backend = backend.inner
    assert result.frames == 12
    kinds = [k for k, _ in backend.log]
    # frame N+1 is submitted before frame N's result is collected; results come back in order
    assert kinds[:3] == ["submit", "submit", "result"]
    results = [h for k, h in backend.log if k == "result"]
    submits = [h for k, h in backend.log if k == "submit"]
    assert results == submits and len(results) == 12
    assert max(sum(1 if k == "submit" else -1 for k, _ in backend.log[:i + 1]) for i in range(len(kinds))) == 2
    a, b = read_all(tmp_path / "plain.avi")[0], read_all(tmp_path / "piped.avi")[0]
    assert len(a) == len(b) == 12 and all(np.array_equal(x, y) for x, y in zip(a, b))


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("total", [40, None], ids=["file", "camera"])
def test_progress_bar_on_a_terminal_only(total):
    from sdk.video import Progress
    shown = Terminal()
    bar = Progress(total, stream=shown)
    for done in range(1, 41):
        bar.update(done, dropped=2 if done > 20 else 0)
    bar.close()
    text = shown.getvalue()
    if total:  # a known length: percentage, count, rate and ETA
        assert "stylize: 100% |" in text and "40/40 frames" in text and "ETA 00:00" in text
    else:  # a camera or stream: a counter
        assert "stylize: 40 frames" in text and "%" not in text and "ETA" not in text
    assert "frame/s" in text and "2 dropped" in text
    for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):  # a log file, or --quiet: nothing at all
        bar = Progress(total, stream=stream, quiet=quiet)
        bar.update(5)
        bar.close()
        assert stream.getvalue() == ""


def test_stream_overlaps_submit_and_result_and_frees_the_slot_when_stopped_early(clip):
    with sdk.Stylizer(backend="onnxruntime") as piped:
        backend = RecordingPipelinedBackend(piped)
        piped._backend = backend
        frames = clip[1]
        outputs = list(piped.stream(frames))
        kinds = [k for k, _ in backend.log]
        assert kinds[:3] == ["submit", "submit", "result"] and kinds.count("result") == len(frames)
        plain = [piped(f) for f in frames]  # the same frames one at a time
        assert all(np.array_equal(a, b) for a, b in zip(outputs, plain, strict=True))
        backend.log.clear()
        stream = piped.stream(frames)
        next(stream)  # frame 0 out, frame 1 in flight
        stream.close()
        assert [k for k, _ in backend.log] == ["submit", "submit", "result", "result"]  # nothing left pending
        piped._backend = backend.inner


@pytest.mark.parametrize("text, kind, target, live", [
    ("0", "camera", 0, True),
    ("v4l2:///dev/video0", "camera", 0, True),
    ("v4l2:///dev/v4l/by-id/usb-cam", "camera", "/dev/v4l/by-id/usb-cam", True),
    ("v4l2://1", "camera", 1, True),
    ("rtsp://cam.local:8554/live", "stream", "rtsp://cam.local:8554/live", True),
    ("https://example.org/clip.mp4", "stream", "https://example.org/clip.mp4", False),
    ("file:///data/my%20clip.mp4", "file", "/data/my clip.mp4", False),
    ("clips/in.mp4", "file", "clips/in.mp4", False),
    ("videotestsrc ! videoconvert ! appsink", "gstreamer", "videotestsrc ! videoconvert ! appsink", True),
])
def test_sources_by_uri(text, kind, target, live):
    from sdk.video import parse_source
    source = parse_source(text)
    assert (source.kind, source.target, source.live) == (kind, target, live)


def test_unsupported_schemes_and_missing_devices_are_clear_errors(tmp_path, clip, stylizer):
    from sdk.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError, match=r"the scheme 'csi://' is not supported; expected a path, a camera "
                                                   r"index, file://, v4l2://"):
        sdk.stylize_video("csi://0", tmp_path / "o.mp4", stylizer=stylizer)
    with pytest.raises(InvalidArgumentError, match=r"output 'ftp://x/y': the scheme 'ftp://' is not supported"):
        sdk.stylize_video(clip[0], "ftp://x/y", stylizer=stylizer)
    with pytest.raises(VideoIOError, match="camera 97 could not be opened"):
        sdk.stylize_video("v4l2:///dev/video97", tmp_path / "o.mp4", stylizer=stylizer)
    if "GStreamer:                   NO" in cv2.getBuildInformation():
        with pytest.raises(VideoIOError, match="this OpenCV was built without GStreamer"):
            sdk.stylize_video("videotestsrc ! appsink", tmp_path / "o.mp4", stylizer=stylizer)
    result = sdk.stylize_video(clip[0].as_uri(), (tmp_path / "o.mp4").as_uri(), stylizer=stylizer)  # file:// both ways
    assert result.frames == 12 and len(read_all(tmp_path / "o.mp4")[0]) == 12


def test_rtsp_in_and_out_through_a_local_server(clip, tmp_path, stylizer):
    """Push the stylized clip to an RTSP listener (FFmpeg's, in PyAV) and check every frame arrives, stylized."""
    import socket
    import threading

    import av
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"rtsp://127.0.0.1:{port}/live"
    received = []

    def listen():
        with av.open(url, options={"rtsp_flags": "listen", "listen_timeout": "30"}) as server:
            received.extend(f.to_ndarray(format="bgr24") for f in server.decode(video=0))

    server = threading.Thread(target=listen, daemon=True)
    server.start()
    for _ in range(100):  # until the listener accepts
        try:
            result = sdk.stylize_video(clip[0], url, style="sketch", stylizer=stylizer)
            break
        except VideoIOError:
            import time
            time.sleep(0.1)
    server.join(30)
    assert result.frames == 12 and len(received) == 12
    decoded = read_all(clip[0])[0][5]  # the frame as the source's decoder gave it
    want = stylizer(decoded, style="sketch")
    assert np.abs(received[5].astype(int) - want.astype(int)).mean() < 6  # H.264 at crf 20, 4:2:0, limited range
    assert np.abs(received[5].astype(int) - decoded.astype(int)).mean() > 30  # and not the input
