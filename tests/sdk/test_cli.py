import subprocess
import sys

import cv2

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
    assert "FPS" in proc.stderr


def test_runtime_error_exits_1_usage_error_exits_2(tmp_path):
    proc = run_cli("stylize", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert proc.returncode == 1 and "error: video" in proc.stderr and "does not exist" in proc.stderr
    proc = run_cli("stylize", "x.png", "-o", "y.png", "--style", "glwo")
    assert proc.returncode == 1 and "Did you mean 'glow'?" in proc.stderr
    proc = run_cli("stylize")
    assert proc.returncode == 2 and "required" in proc.stderr


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
