"""Soak: 20,000 frames of 640x360 through sdk.stylize_frame, resident memory every 1,000 frames.

Run with ``make soak`` (about 8 minutes on a 2-core CPU). Memory must not grow by more than 2%
between frame 2,000 (everything warmed up and allocated) and the last frame; the per-1,000-frame
RSS table is printed and kept in the benchmark JSON's extra_info.
"""
import os
import sys

import pytest

import sdk
from sdk.media import camera_motion_frames

FRAMES = int(os.environ.get("SOAK_FRAMES", 20_000))
EVERY = 1_000
BASELINE_FRAME = 2_000
MAX_GROWTH = 0.02


def resident_bytes() -> int:
    """Current resident set size (not the peak that resource.getrusage reports)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.soak
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc (Linux)")
def test_soak_resident_memory(benchmark):
    from trainer import photos
    # 120 distinct camera-motion frames, cycled, with styles and strengths varying as in an app.
    clip = camera_motion_frames(photos.load_photo("astronaut")[:, :, ::-1], 120, (640, 360))
    styles = ["glow", "vintage", "sketch", {"glow": 0.5, "vintage": 0.5}]
    samples = []

    def soak():
        for i in range(1, FRAMES + 1):
            out = sdk.stylize_frame(clip[i % len(clip)], style=styles[(i // 250) % len(styles)],
                                    strength=1.0 if i % 3 else 0.7)
            if i % EVERY == 0:
                samples.append((i, resident_bytes()))
        return out

    out = benchmark.pedantic(soak, rounds=1, iterations=1)
    assert out.shape == (360, 640, 3)
    rss = dict(samples)
    base, last = rss[BASELINE_FRAME], rss[FRAMES]
    growth = (last - base) / base
    benchmark.extra_info.update({"frames": FRAMES, "rss_mib": {k: round(v / 2**20, 2) for k, v in samples},
                                 "growth_from_frame_2000": round(growth, 5),
                                 "ms_per_frame": round(benchmark.stats.stats.median / FRAMES * 1e3, 3)})
    print("\nframe    RSS MiB", file=sys.stderr)
    for i, value in samples:
        print(f"{i:6d}  {value / 2**20:8.2f}", file=sys.stderr)
    print(f"growth frame {BASELINE_FRAME} -> {FRAMES}: {growth * 100:+.3f}% (limit {MAX_GROWTH * 100:.0f}%); "
          f"{benchmark.stats.stats.median / FRAMES * 1e3:.2f} ms/frame", file=sys.stderr)
    assert growth <= MAX_GROWTH, f"RSS grew {growth * 100:.2f}% from frame {BASELINE_FRAME} to {FRAMES}"
