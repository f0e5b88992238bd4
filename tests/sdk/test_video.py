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
