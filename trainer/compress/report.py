"""The compression report: every variant's size, MACs, CPU latency and fidelity (Markdown, JSON, PNG plot)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from sdk.package import load_package
from trainer.compress.metrics import FLOORS, record_latencies
from trainer.compress.variants import variants_of


def report(package_path: str | Path | None, out_dir: str | Path, remeasure: bool = True) -> str:
    """Markdown table (and a PNG plot) of every variant: size, MACs, CPU latency, fidelity."""
    package = load_package(package_path)
    styles = list(package.style_names)
    variants = variants_of(package)
    if remeasure:  # one round-robin run for every latency: comparable numbers
        record_latencies(package.path, variants, len(styles))
    rows = list(variants.items())
    base_ms = dict(rows)["fp32"]["cpu_ms_640x360"]
    lines = ["| variant | file | params | MACs 720p (G) | size (KB) | CPU 360p (ms) | CPU 720p (ms) | speed-up 360p | "
             "PSNR vs FP32 (dB) | SSIM vs FP32 | look closure (min over styles) | passes floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in rows:
        fid = v.get("fidelity", {})
        closures = v.get("look_closure", {})
        lines.append(f"| {name} | {v['file']} | {v['parameters']:,} | {v['macs_1280x720'] / 1e9:.3f} | "
                     f"{(package.path / v['file']).stat().st_size / 1024:.0f} | {v['cpu_ms_640x360']:.2f} | "
                     f"{v['cpu_ms_1280x720']:.2f} | {base_ms / v['cpu_ms_640x360']:.2f}x | "
                     f"{fid.get('psnr_db', float('nan')) if name != 'fp32' else 'reference'} | "
                     f"{fid.get('ssim', float('nan')) if name != 'fp32' else 'reference'} | "
                     f"{min(closures.values()) if closures else float('nan'):.3f} | {'yes' if v.get('passes_floor') else 'no'} |")
    table = "\n".join(lines)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    floors = (f"Floors: PSNR against the FP32 model >= {FLOORS['quantized_psnr_db']:.0f} dB for quantized, "
              f">= {FLOORS['pruned_psnr_db']:.0f} dB for pruned variants, and every style's closure to its look "
              f"(held-out photos) at most {FLOORS['closure_drop']} below the FP32 model's.")
    (out_dir / "compress.md").write_text(f"# Compression report: {package.path.name}\n\n{table}\n\n{floors}\n")
    _plot(rows, out_dir / "compress.png")
    (out_dir / "compress.json").write_text(json.dumps(dict(rows), indent=2))
    return table + "\n\n" + floors


def _plot(rows: list[tuple[str, dict]], path: Path) -> None:
    """CPU latency at 640x360 against fidelity, one labelled point per variant (OpenCV drawing, no matplotlib)."""
    w, h, margin = 900, 560, 80
    canvas = np.full((h, w, 3), 255, np.uint8)
    measured = [v["fidelity"]["psnr_db"] for n, v in rows if n != "fp32"] or [40.0]
    top = max(measured) + 4  # the FP32 reference is drawn above every variant
    points = [(n + " (reference)" if n == "fp32" else n, v["cpu_ms_640x360"], top if n == "fp32" else
               v["fidelity"]["psnr_db"]) for n, v in rows]
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    x0, x1 = 0.0, max(xs) * 1.25
    y0, y1 = min(min(ys), 25.0) - 2, top + 3

    def to_px(x, y):
        return int(margin + (x - x0) / (x1 - x0) * (w - 2 * margin)), int(h - margin - (y - y0) / (y1 - y0) * (h - 2 * margin))

    cv2.rectangle(canvas, to_px(x0, y0), to_px(x1, y1), (0, 0, 0), 1)
    for floor, colour in ((FLOORS["quantized_psnr_db"], (0, 140, 255)), (FLOORS["pruned_psnr_db"], (0, 0, 220))):
        cv2.line(canvas, to_px(x0, floor), to_px(x1, floor), colour, 1, cv2.LINE_AA)
        cv2.putText(canvas, f"floor {floor:.0f} dB", to_px(x0, floor + 0.4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    for name, x, y in points:
        cv2.circle(canvas, to_px(x, y), 6, (180, 80, 0), -1, cv2.LINE_AA)
        cv2.putText(canvas, name, (to_px(x, y)[0] + 9, to_px(x, y)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(canvas, "ONNX Runtime CPU ms at 640x360 (lower is faster)", (margin, h - 30), cv2.FONT_HERSHEY_SIMPLEX,
                0.55, (0, 0, 0), 1)
    cv2.putText(canvas, "PSNR vs FP32 model (dB)", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    for tick in np.linspace(x0, x1, 6):
        cv2.putText(canvas, f"{tick:.1f}", (to_px(tick, y0)[0] - 10, h - margin + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1)
    for tick in range(int(math.ceil(y0 / 5) * 5), int(y1) + 1, 5):
        cv2.putText(canvas, f"{tick}", (margin - 35, to_px(x0, tick)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.imwrite(str(path), canvas)
