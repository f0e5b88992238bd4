"""Video out as people play it: H.264/yuv420p MP4 with the input's audio, its frame count, duration and rate.

Each written file is checked twice: with ffprobe (Debian's ffmpeg, an independent reader; skipped with the
reason when it is absent) and with PyAV (always).
"""
import json
import shutil
import subprocess
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

import sdk
from sdk.encode import VideoWriter, check_video_path
from sdk.errors import InvalidArgumentError
from sdk.media import camera_motion_frames, write_clip_with_audio

FPS = 25
FRAMES = 20
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None,
                                   reason="ffprobe not installed (Debian: apt-get install ffmpeg)")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, photos_rgb):
    frames = camera_motion_frames(photos_rgb["astronaut"][:, :, ::-1], FRAMES, (160, 96))
    folder = tmp_path_factory.mktemp("clips")
    return {"aac_mp4": write_clip_with_audio(folder / "phone.mp4", frames, FPS),
            "pcm_avi": write_clip_with_audio(folder / "editor.avi", frames, FPS, audio_codec="pcm_s16le"),
            "silent_avi": _silent(folder / "silent.avi", frames)}


def _silent(path, frames):
    from sdk.media import write_clip
    return write_clip(path, frames, fps=FPS)


def ffprobe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def pyav_facts(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(v))
        return {"codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "frames": frames,
                "rate": v.average_rate, "audio": [a.codec_context.name for a in c.streams.audio],
                "seconds": float(c.duration / av.time_base)}


@pytest.mark.parametrize("name, audio_codec", [("aac_mp4", "aac"), ("pcm_avi", "aac"), ("silent_avi", None)],
                         ids=["aac-copied", "pcm-re-encoded", "no-audio"])
def test_mp4_out_is_h264_yuv420p_with_the_audio_and_the_input_length(clips, tmp_path, stylizer, name, audio_codec):
    out = tmp_path / "out.mp4"
    result = sdk.stylize_video(clips[name], out, style="vintage", stylizer=stylizer)
    assert result.frames == FRAMES
    facts = pyav_facts(out)
    assert (facts["codec"], facts["pix_fmt"], facts["frames"], facts["rate"]) == ("h264", "yuv420p", FRAMES, FPS)
    assert facts["audio"] == ([audio_codec] if audio_codec else [])
    assert facts["seconds"] == pytest.approx(FRAMES / FPS, abs=1.5 / FPS)  # audio may run to its last packet
    assert out.read_bytes()[4:8] == b"ftyp" and b"moov" in out.read_bytes()[:4096]  # faststart: index up front


@needs_ffprobe
@pytest.mark.parametrize("name", ["aac_mp4", "pcm_avi"])
def test_ffprobe_reads_codec_pixel_format_audio_frame_count_and_duration(clips, tmp_path, stylizer, name):
    out = tmp_path / "out.mp4"
    sdk.stylize_video(clips[name], out, style="glow", stylizer=stylizer)
    source, written = ffprobe(clips[name]), ffprobe(out)
    video = [s for s in written["streams"] if s["codec_type"] == "video"]
    audio = [s for s in written["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264" and video[0]["pix_fmt"] == "yuv420p"
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac"
    source_video = next(s for s in source["streams"] if s["codec_type"] == "video")
    assert int(video[0]["nb_read_frames"]) == int(source_video["nb_read_frames"]) == FRAMES
    assert Fraction(video[0]["r_frame_rate"]) == Fraction(source_video["r_frame_rate"]) == FPS
    assert float(video[0]["duration"]) == pytest.approx(float(source_video["duration"]), abs=1e-3)
    assert float(audio[0]["duration"]) == pytest.approx(FRAMES / FPS, abs=0.05)


def test_max_frames_trims_the_audio_to_the_video(clips, tmp_path, stylizer):
    out = tmp_path / "out.mp4"
    sdk.stylize_video(clips["aac_mp4"], out, stylizer=stylizer, max_frames=8)
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        end = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(audio) if p.pts is not None)
    assert pyav_facts(out)["frames"] == 8
    assert 8 / FPS - 0.05 <= end <= 8 / FPS + 0.05


def test_no_audio_option_and_other_codecs(clips, tmp_path, stylizer):
    sdk.stylize_video(clips["aac_mp4"], tmp_path / "quiet.mp4", stylizer=stylizer, audio=False)
    assert pyav_facts(tmp_path / "quiet.mp4")["audio"] == []
    sdk.stylize_video(clips["aac_mp4"], tmp_path / "old.mp4", stylizer=stylizer, codec="mpeg4")
    assert pyav_facts(tmp_path / "old.mp4")["codec"] == "mpeg4"
    sdk.stylize_video(clips["aac_mp4"], tmp_path / "out.avi", stylizer=stylizer)
    facts = pyav_facts(tmp_path / "out.avi")
    # AVI holds no AAC: the audio is re-encoded to MP3 (PyAV names the decoder mp3float)
    assert facts["codec"] == "mjpeg" and facts["frames"] == FRAMES and facts["audio"][0].startswith("mp3")


def test_side_by_side_video_is_input_then_stylized(clips, tmp_path, stylizer):
    out = tmp_path / "pair.mp4"
    sdk.stylize_video(clips["silent_avi"], out, style="sketch", stylizer=stylizer, side_by_side=True)
    cap = cv2.VideoCapture(str(out))
    ok, pair = cap.read()
    cap.release()
    assert ok and pair.shape == (96, 320, 3)
    left, right = (cv2.cvtColor(half[30:, :], cv2.COLOR_BGR2HSV) for half in (pair[:, :160], pair[:, 160:]))
    assert right[..., 2].mean() > left[..., 2].mean() + 20  # the sketch side is the paper-white one
    assert right[..., 1].mean() < left[..., 1].mean() - 20  # and the grey one


def test_odd_frame_sizes_are_padded_to_even_for_420(tmp_path):
    frames = [np.full((49, 65, 3), 10 * i, np.uint8) for i in range(5)]
    writer = VideoWriter(tmp_path / "odd.mp4", Fraction(FPS), (65, 49))
    for f in frames:
        writer.write(f)
    writer.close()
    writer.close()  # a second close is a no-op
    with av.open(str(tmp_path / "odd.mp4")) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (66, 50)
        assert sum(1 for _ in c.decode(v)) == 5


@needs_ffprobe
def test_rotation_metadata_is_applied_to_the_picture(clips, tmp_path, stylizer):
    rotated = tmp_path / "portrait.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clips["aac_mp4"]), "-metadata:s:v:0", "rotate=90",
                    "-c", "copy", str(rotated)], check=True)
    out = tmp_path / "out.mp4"
    sdk.stylize_video(rotated, out, stylizer=stylizer)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (96, 160)  # upright, as players show the source


def test_bad_suffix_and_codec_are_argument_errors(tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"suffix '\.png' is not a video container; expected one of "
                                                   r"\.mp4, \.mov, \.mkv, \.avi"):
        check_video_path(tmp_path / "x.png")
    with pytest.raises(InvalidArgumentError, match="codec 'h266' is not supported; expected one of h264"):
        check_video_path(tmp_path / "x.mp4", "h266")
    assert check_video_path(tmp_path / "x.MKV") == "h264"
