import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from sdk.cli import main
from sdk.media import camera_motion_frames, write_clip


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "sdk", *args], capture_output=True, text=True, timeout=300)


def test_styles_and_backends(capsys):
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.strip().splitlines()] == ["glow", "vintage", "sketch", "cartoon"]
    assert main(["backends"]) == 0
    assert "onnxruntime  available" in capsys.readouterr().out


def test_stylize_image(tmp_path, frame_bgr, capsys):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    cv2.imwrite(str(src), frame_bgr)
    assert main(["stylize", str(src), "-o", str(dst), "--style", "vintage", "--backend", "onnxruntime"]) == 0
    out = cv2.imread(str(dst))
    assert out.shape == frame_bgr.shape
    assert "infer" in capsys.readouterr().out


def test_stylize_video_reports_stages_and_fps(tmp_path, photos_rgb):
    src = write_clip(tmp_path / "in.avi", camera_motion_frames(photos_rgb["chelsea"][:, :, ::-1], 8, (128, 72)))
    proc = run_cli("stylize", str(src), "-o", str(tmp_path / "out.mp4"), "--style", "glow", "--strength", "0.8")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:5]] == ["pre", "infer", "post", "total"]
    assert lines[-1].startswith("8 frames in") and lines[-1].endswith("frames/s")
    assert "wrote " + str(tmp_path / "out.mp4") + ": 8 frames" in proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr  # not a terminal: no progress bar in the log


def one_line_error(proc, code: int, *fragments: str) -> None:
    """Exit ``code``, stderr exactly one line starting with the program's name, naming every fragment."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("backend:")]
    assert len(lines) == 1 and lines[0].startswith("python -m sdk") and "error:" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_runtime_error_exits_1_usage_error_exits_2(tmp_path):
    one_line_error(run_cli("stylize", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")), 1,
                   str(tmp_path / "nope.mp4"), "does not exist")
    one_line_error(run_cli("stylize"), 2, "required")


@pytest.fixture(scope="module")
def media(tmp_path_factory, photos_rgb):
    folder = tmp_path_factory.mktemp("media")
    image = folder / "photo.png"
    cv2.imwrite(str(image), cv2.resize(photos_rgb["astronaut"][:, :, ::-1], (128, 128)))
    junk = folder / "junk.png"
    junk.write_bytes(b"not an image" * 10)
    video = write_clip(folder / "clip.avi", camera_motion_frames(photos_rgb["chelsea"][:, :, ::-1], 6, (96, 64)))
    return {"image": image, "junk": junk, "video": video}


@pytest.mark.parametrize("case", ["unknown style", "bad mix weight", "strength", "bench size", "image to no suffix",
                                  "image to video", "video to image", "folder to file", "zero frames", "codec",
                                  "unknown scheme", "image to a stream"])
def test_every_bad_argument_is_a_one_line_usage_error(case, media, tmp_path):
    image, video = str(media["image"]), str(media["video"])
    args, fragments = {
        "unknown style": (["stylize", image, "-o", str(tmp_path / "o.png"), "--style", "glwo"],
                          ["Unknown style 'glwo'. Did you mean 'glow'?"]),
        "bad mix weight": (["stylize", image, "-o", str(tmp_path / "o.png"), "--style", "glow=lots"],
                           ["weight 'lots' of 'glow' is not a number"]),
        "strength": (["stylize", image, "-o", str(tmp_path / "o.png"), "--strength", "1.5"],
                     ["strength 1.5 is outside 0..1"]),
        "bench size": (["bench", "--sizes", "640x"], ["size '640x': expected WxH"]),
        "image to no suffix": (["stylize", image, "-o", str(tmp_path / "noext")], ["an image is written as", ".png"]),
        "image to video": (["stylize", image, "-o", str(tmp_path / "x.mp4")], ["an image is written as"]),
        "video to image": (["stylize", video, "-o", str(tmp_path / "x.png")], ["the input is a video", ".mp4"]),
        "folder to file": (["stylize", str(media["image"].parent), "-o", str(tmp_path / "x.png")],
                           ["the input is a folder"]),
        "zero frames": (["stylize", video, "-o", str(tmp_path / "x.mp4"), "--max-frames", "0"], ["must be at least 1"]),
        "codec": (["stylize", video, "-o", str(tmp_path / "x.mp4"), "--codec", "h266"], ["codec 'h266'"]),
        "unknown scheme": (["stylize", "csi://0", "-o", str(tmp_path / "x.mp4")], ["the scheme 'csi://' is not supported"]),
        "image to a stream": (["stylize", image, "-o", "rtsp://127.0.0.1:9/x"], ["a stream takes video"]),
    }[case]
    one_line_error(run_cli(*args), 2, *fragments)
    assert not any(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("case", ["missing", "undecodable image", "corrupt video", "unwritable"])
def test_every_bad_file_is_a_one_line_runtime_error_naming_it(case, media, tmp_path):
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is needed")
    args, fragments = {
        "missing": (["stylize", str(tmp_path / "gone.jpg"), "-o", str(tmp_path / "o.png")], ["gone.jpg", "does not exist"]),
        "undecodable image": (["stylize", str(media["junk"]), "-o", str(tmp_path / "o.png")],
                              [str(media["junk"]), "could not be decoded; expected a PNG"]),
        "corrupt video": (["stylize", str(corrupt), "-o", str(tmp_path / "o.mp4")], [str(corrupt), "could not be opened"]),
        "unwritable": (["stylize", str(media["image"]), "-o", str(blocker / "o.png")], []),
    }[case]
    one_line_error(run_cli(*args), 1, *fragments)


def test_version_and_help_name_the_program():
    import sdk
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"python -m sdk {sdk.__version__}"
    script = Path(sys.executable).parent / "stylizer"
    if script.exists():  # the installed console script names itself
        proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith("usage: stylizer ")
        assert "130 interrupted" in proc.stdout


def test_side_by_side_image_and_a_style_mix(media, tmp_path):
    import numpy as np

    import sdk
    out = tmp_path / "pair.png"
    proc = run_cli("stylize", str(media["image"]), "-o", str(out), "--style", "glow=0.7,sketch=0.3", "--side-by-side",
                   "--backend", "onnxruntime")
    assert proc.returncode == 0, proc.stderr
    pair = cv2.imread(str(out))
    assert pair.shape == (128, 256, 3)
    source = cv2.imread(str(media["image"]))
    with sdk.Stylizer(backend="onnxruntime") as s:
        expected = s(source, style={"glow": 0.7, "sketch": 0.3})
    rows = slice(40, 128)  # below the labels
    assert np.abs(pair[rows, :128].astype(int) - source[rows]).max() == 0  # the input, untouched
    assert np.abs(pair[rows, 128:].astype(int) - expected[rows]).max() <= 1  # the mix, as the API makes it


def test_folder_in_folder_out_skips_and_lists_unreadable_files(media, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("photo.png", "junk.png", "clip.avi"):
        (src / name).write_bytes(media[{"photo.png": "image", "junk.png": "junk", "clip.avi": "video"}[name]].read_bytes())
    (src / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    proc = run_cli("stylize", str(src), "-o", str(out), "--style", "vintage")
    assert proc.returncode == 1, proc.stderr  # something was skipped: a batch says so in its exit code
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "photo.png"]
    assert "wrote 2 of 4 files" in proc.stderr
    assert "skipped junk.png: image" in proc.stderr and "could not be decoded" in proc.stderr
    assert "skipped notes.txt: not an image or video" in proc.stderr
    assert cv2.imread(str(out / "photo.png")).shape == (128, 128, 3)


def test_ctrl_c_exits_130_and_leaves_a_playable_partial_video(media, tmp_path, photos_rgb):
    import signal
    import time

    import av
    from sdk.media import write_clip_with_audio
    long_clip = write_clip_with_audio(tmp_path / "long.mp4",
                                      camera_motion_frames(photos_rgb["coffee"][:, :, ::-1], 400, (320, 180)))
    out = tmp_path / "out.mp4"
    # A shell's background job starts with SIGINT ignored, and Python keeps an inherited SIG_IGN: give the
    # child the default disposition, as a terminal's foreground process has, so its own handler is installed.
    proc = subprocess.Popen([sys.executable, "-m", "sdk", "stylize", str(long_clip), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out.exists() and out.stat().st_size > 0) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted:" in stderr and "Traceback" not in stderr
    with av.open(str(out)) as c:  # closed properly: the index is there and the frames decode
        frames = sum(1 for _ in c.decode(c.streams.video[0]))
        assert c.streams.audio
    assert 0 < frames < 400


def test_bench_prints_per_stage_table(tmp_path):
    proc = run_cli("bench", "--sizes", "64x36", "--frames", "3", "--json", str(tmp_path / "b.json"))
    assert proc.returncode == 0, proc.stderr
    assert "64x36" in proc.stdout and "3 frames in" in proc.stdout
    assert (tmp_path / "b.json").exists()


def test_demo_shows_the_whole_photo_in_every_style_and_a_side_by_side_clip(tmp_path, capsys):
    import numpy as np
    import skimage.data
    assert main(["demo", "--out", str(tmp_path), "--frames", "8", "--backend", "onnxruntime"]) == 0
    grid = cv2.imread(str(tmp_path / "before_after.png"))
    photo = skimage.data.astronaut()
    styles = ["glow", "vintage", "sketch", "cartoon"]
    # The whole square photo at the clip's height, once untouched and once per style: nothing cropped.
    assert grid.shape == (360, 360 * (1 + len(styles)), 3)
    before = cv2.resize(photo, (360, 360), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    rows = slice(40, 360)  # below the label
    assert np.abs(grid[rows, :360].astype(int) - before[rows]).mean() < 1.0
    for i in range(1, 1 + len(styles)):  # each look changes the photo
        assert np.abs(grid[rows, 360 * i:360 * (i + 1)].astype(int) - before[rows]).mean() > 5, styles[i - 1]
    clip = cv2.VideoCapture(str(tmp_path / "side_by_side.mp4"))
    count, size = 0, None
    while True:
        ok, frame = clip.read()
        if not ok:
            break
        count, size = count + 1, frame.shape
    assert count == 8 and size == (360, 1280, 3)  # input | stylized
    assert "side_by_side.mp4" in capsys.readouterr().out
