"""A live preview window: a camera or a video file through the stylizer, with keys to change the look.

Keys: 1-9 pick a style, n / p the next / previous style, + / - strength by 0.1, b before/after
(input | stylized), q or Esc quit. A file loops until you quit. The window is OpenCV's HighGUI,
which the ``opencv-python`` wheel has and ``opencv-python-headless`` (this package's default) does
not; :func:`check_display` says which is missing and how to get it.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from sdk.errors import BackendUnavailableError

WINDOW = "stylizer preview"
HELP = "1-9 style  n/p next/prev  +/- strength  b before/after  q quit"


def check_display() -> None:
    """Raise BackendUnavailableError where no window can open: no display, or an OpenCV without a GUI."""
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise BackendUnavailableError("preview needs a display and none is set (DISPLAY / WAYLAND_DISPLAY are "
                                      "empty); run it on a desktop, or stylize to a file with `stylize ... -o out.mp4`")
    gui = [line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines()
           if line.strip().startswith("GUI:")]
    if gui and gui[0].upper() == "NONE":
        raise BackendUnavailableError("this OpenCV has no window support (opencv-python-headless); for preview, "
                                      "`pip uninstall -y opencv-python-headless && pip install opencv-python`")


class PreviewState:
    """What the keys change: the style, the strength, before/after. Pure logic, tested without a window."""

    def __init__(self, styles: tuple[str, ...], style: int = 0, strength: float = 1.0):
        self.styles, self.style, self.strength, self.before_after = styles, style, strength, False

    def key(self, code: int) -> bool:
        """Apply one key (a waitKey code; -1 for none). False when the user quit."""
        if code < 0:
            return True
        char = chr(code & 0xFF)
        if char in ("q", "\x1b"):
            return False
        if char.isdigit() and 1 <= int(char) <= len(self.styles):
            self.style = int(char) - 1
        elif char == "n":
            self.style = (self.style + 1) % len(self.styles)
        elif char == "p":
            self.style = (self.style - 1) % len(self.styles)
        elif char in ("+", "="):
            self.strength = round(min(1.0, self.strength + 0.1), 2)
        elif char in ("-", "_"):
            self.strength = round(max(0.0, self.strength - 0.1), 2)
        elif char == "b":
            self.before_after = not self.before_after
        return True


def render(stylizer, frame: np.ndarray, state: PreviewState, fps: float | None = None) -> np.ndarray:
    """The picture the window shows for ``frame``: stylized (or input | stylized), with the state written on it."""
    import cv2

    from sdk.video import label, side_by_side_frame

    name = state.styles[state.style]
    out = stylizer(frame, style=name, strength=state.strength)
    title = f"{name} {state.strength:.1f}"
    shown = side_by_side_frame(frame, out, title) if state.before_after else out.copy()
    if not state.before_after:
        label(shown, title + (f"  {fps:.0f} fps" if fps else ""), 0)
    h = shown.shape[0]
    cv2.putText(shown, HELP, (8, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(shown, HELP, (8, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return shown


def run(stylizer, source, strength: float = 1.0, style: int = 0, max_frames: int | None = None) -> int:
    """Show ``source`` (a camera index, a video path or a URI, as ``stylize`` takes them) until q/Esc, or
    ``max_frames`` frames; returns the frames shown."""
    import cv2

    from sdk.video import open_source, parse_source

    check_display()
    source = parse_source(source)
    cap = open_source(source)
    state = PreviewState(stylizer.styles, style, strength)
    shown = 0
    last = time.perf_counter()
    fps = None
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
        while max_frames is None or shown < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None or frame.size == 0:
                if source.live:
                    break  # the camera or stream stopped
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # a file loops
                ok, frame = cap.read()
                if not ok:
                    break
            cv2.imshow(WINDOW, render(stylizer, frame, state, fps))
            shown += 1
            now = time.perf_counter()
            fps = 1.0 / max(now - last, 1e-6) if fps is None else 0.9 * fps + 0.1 / max(now - last, 1e-6)
            last = now
            if not state.key(cv2.waitKey(1)):
                break
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                break  # the window was closed
    finally:
        cap.release()
        cv2.destroyAllWindows()
    return shown
