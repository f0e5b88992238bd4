"""`python -m sdk preview`: the keys, what the window shows, and a real window under Xvfb checked by screenshot."""
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from sdk.preview import PreviewState, render

REPO = Path(__file__).resolve().parents[2]
# A GUI build of OpenCV beside the headless one the package depends on (`make test` installs it there).
GUI_OPENCV = Path(os.environ.get("STYLIZER_GUI_OPENCV", REPO / ".venv" / "opencv-gui"))
X_TOOLS = ("Xvfb", "xwd", "xwininfo", "xdotool")


def test_keys_change_style_strength_and_before_after():
    state = PreviewState(("glow", "vintage", "sketch", "cartoon"), style=0, strength=1.0)
    assert state.key(ord("3")) and state.style == 2
    assert state.key(ord("n")) and state.style == 3
    assert state.key(ord("n")) and state.style == 0  # wraps around
    assert state.key(ord("p")) and state.style == 3
    assert state.key(ord("9")) and state.style == 3  # no ninth style: unchanged
    for _ in range(3):
        state.key(ord("-"))
    assert state.strength == 0.7
    for _ in range(5):
        state.key(ord("+"))
    assert state.strength == 1.0  # capped
    assert state.key(ord("b")) and state.before_after
    assert state.key(-1)  # no key pressed
    assert not state.key(ord("q")) and not state.key(27)  # q and Esc quit


def test_render_shows_the_look_or_before_after(stylizer, frame_bgr):
    state = PreviewState(stylizer.styles, style=2, strength=1.0)
    shown = render(stylizer, frame_bgr, state)
    expected = stylizer(frame_bgr, style="sketch")
    middle = (slice(60, 300), slice(0, 640))  # between the title and the key help
    assert shown.shape == frame_bgr.shape and np.array_equal(shown[middle], expected[middle])
    state.key(ord("b"))
    pair = render(stylizer, frame_bgr, state)
    assert pair.shape == (360, 1280, 3)
    assert np.array_equal(pair[60:300, :640], frame_bgr[60:300]) and np.array_equal(pair[60:300, 640:], expected[60:300])


def run_preview(env_changes, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "sdk", "preview", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_refused_with_a_clear_message_where_no_window_can_open(tmp_path):
    proc = run_preview({})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "preview needs a display and none is set" in proc.stderr
    proc = run_preview({"DISPLAY": ":97", "PYTHONPATH": ""})  # the headless OpenCV this package installs
    if "QT" in cv2.getBuildInformation().split("GUI:")[1].splitlines()[0]:
        pytest.skip("this environment's own OpenCV has a GUI")
    assert proc.returncode == 1 and "this OpenCV has no window support (opencv-python-headless)" in proc.stderr
    assert "pip install opencv-python" in proc.stderr


def read_xwd(data: bytes) -> np.ndarray:
    """A 24/32-bit TrueColor XWD screenshot (what `xwd -root` writes) as BGR uint8."""
    fields = struct.unpack(">25I", data[:100])
    header_size, width, height = fields[0], fields[4], fields[5]
    byte_order, bits_per_pixel, bytes_per_line, ncolors = fields[7], fields[11], fields[12], fields[19]
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data[start:start + bytes_per_line * height], np.uint8).reshape(height, bytes_per_line)
    pixels = rows[:, :width * bits_per_pixel // 8].reshape(height, width, bits_per_pixel // 8)
    return pixels[:, :, [3, 2, 1]] if byte_order == 1 else pixels[:, :, :3]


def best_match(screen: np.ndarray, picture: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Mean absolute difference where ``picture`` best fits on ``screen``, and that place (x, y)."""
    scores = cv2.matchTemplate(screen, picture, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(scores)
    h, w = picture.shape[:2]
    return float(np.abs(screen[y:y + h, x:x + w].astype(int) - picture.astype(int)).mean()), (x, y)


@pytest.mark.skipif(not all(shutil.which(t) for t in X_TOOLS),
                    reason=f"needs {', '.join(X_TOOLS)} (Debian: apt-get install xvfb x11-apps x11-utils xdotool)")
@pytest.mark.skipif(not (GUI_OPENCV / "cv2").is_dir(),
                    reason=f"needs a GUI OpenCV in {GUI_OPENCV} (make test installs opencv-python there)")
def test_a_real_window_under_xvfb_shows_the_look_and_follows_the_keys(tmp_path, stylizer):
    from sdk.media import write_clip
    frame = np.full((180, 320, 3), (60, 140, 200), np.uint8)
    cv2.rectangle(frame, (90, 40), (230, 140), (240, 240, 240), -1)
    cv2.circle(frame, (160, 90), 30, (20, 40, 90), -1)
    clip = write_clip(tmp_path / "still.avi", [frame] * 10, fps=10)
    read = cv2.VideoCapture(str(clip)).read()[1]  # the decoded frame, as the preview will see it

    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    display = ":" + xvfb.stdout.readline().strip()
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(GUI_OPENCV)}
    preview = subprocess.Popen([sys.executable, "-m", "sdk", "preview", str(clip), "--style", "sketch",
                                "--backend", "onnxruntime"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)

    def screenshot() -> np.ndarray:
        time.sleep(1.0)  # a few frames at the new setting
        return read_xwd(subprocess.run(["xwd", "-root", "-silent"], env=env, capture_output=True, check=True).stdout)

    def key(name: str) -> None:
        # No window manager under Xvfb: focus the window directly (windowactivate needs one), then type.
        subprocess.run(["xdotool", "search", "--sync", "--limit", "1", "--name", "stylizer preview", "windowfocus",
                        "--sync", "key", name], env=env, check=True, capture_output=True, timeout=30)

    try:
        deadline = time.time() + 90
        while subprocess.run(["xwininfo", "-name", "stylizer preview"], env=env, capture_output=True).returncode:
            assert preview.poll() is None and time.time() < deadline, preview.communicate()[1]
            time.sleep(0.2)
        middle = slice(40, 150)  # between the title and the key help
        sketch = stylizer(read, style="sketch")[middle]
        error, where = best_match(screenshot(), sketch)
        assert error < 2.0, f"the window does not show the sketch (mean difference {error:.1f})"
        # n: the next style (cartoon); b: before | after, twice as wide
        key("n")
        cartoon = stylizer(read, style="cartoon")[middle]
        screen = screenshot()
        assert best_match(screen, cartoon)[0] < 2.0 and best_match(screen, sketch)[0] > 10
        key("b")
        pair = np.concatenate([read, stylizer(read, style="cartoon")], axis=1)[middle]
        assert best_match(screenshot(), pair)[0] < 2.0
        key("q")
        _, stderr = preview.communicate(timeout=60)
        assert preview.returncode == 0 and "showed" in stderr, stderr
    finally:
        if preview.poll() is None:
            preview.kill()
        xvfb.kill()
