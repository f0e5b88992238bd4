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
    assert [line.split()[1] for line in out.strip().splitlines()] == ["glow", "vintage", "sketch"]
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
