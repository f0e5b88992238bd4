"""Print the benchmark medians per frame size and the speed-up over each baseline.

Usage: python -m benchmarks.report .benchmarks/latest.json
"""
import json
import sys

ROWS = [("test_end_to_end_onnxruntime", "stylize_frame, ONNX Runtime CPU (end to end, auto variant)"),
        ("test_stage_pre", "  stage pre (resize, normalize, NCHW)"),
        ("test_stage_infer_onnxruntime", "  stage infer (ONNX Runtime)"),
        ("test_stage_post", "  stage post (denormalize, HWC, blend)"),
        ("test_fp32_model", "the unpruned FP32 model (end to end)"),
        ("test_baseline_generic_session", "baseline: ONNX Runtime, style as an input"),
        ("test_torch_backend", "our torch backend, CPU (style folded)"),
        ("test_baseline_torch_eager", "baseline: same model, PyTorch eager CPU"),
        ("test_baseline_cv2_stylization", "baseline: cv2.stylization")]


def main(path: str) -> int:
    with open(path) as f:
        data = json.load(f)
    by, interleaved, folded = {}, [], []
    for b in data["benchmarks"]:
        if b["name"].startswith("test_variants_against_fp32_interleaved"):
            interleaved.append(b["extra_info"])
            continue
        if b["name"].startswith("test_style_folded_int8"):
            folded.append(b["extra_info"])
            continue
        if b["group"] is None:  # a benchmark this report has no row for
            continue
        by[(b["group"], b["name"].split("[")[0])] = b["stats"]["median"] * 1e3
    info = data["machine_info"]
    print(f"\nmachine: {info.get('cpu', {}).get('brand_raw', info.get('processor'))}, "
          f"{data['benchmarks'][0]['extra_info'].get('cpu_count')} cores; commit {data['commit_info'].get('id', '')[:8]}")
    for group in sorted({g for g, _ in by}, key=lambda g: int(g.rstrip("p"))):
        ours = by.get((group, "test_end_to_end_onnxruntime"))
        print(f"\n{group}: median ms, FPS, and our end-to-end speed-up over each row")
        for key, label in ROWS:
            ms = by.get((group, key))
            if ms is None:
                continue
            ratio = f"{ms / ours:5.2f}x" if ours and key.startswith(("test_baseline", "test_fp32", "test_torch")) else ""
            print(f"  {label:<48} {ms:8.2f} ms {1e3 / ms:8.1f} FPS  {ratio}")
    for info in interleaved:
        print(f"\n{info['size']}, compressed variants interleaved (benchmarks/test_compression.py): median ms, "
              "speed-up vs fp32 (median of rounds, min-max)")
        for v, ms in info["median_ms"].items():
            print(f"  {v:16s} {ms:8.2f} ms  {info['speedup_vs_fp32_median'][v]:5.2f}x  "
                  f"({info['speedup_vs_fp32_min'][v]:.2f}-{info['speedup_vs_fp32_max'][v]:.2f})")
    for info in folded:
        print("\n640x360, style-folded graphs (benchmarks/test_int8_folded.py): median ms, speed-up vs folded fp32, "
              "max |diff| in uint8 steps")
        for k, ms in info["median_ms"].items():
            print(f"  {k:16s} {ms:8.2f} ms  {info['speedup_vs_fp32_median'][k]:5.2f}x  "
                  f"{info['max_abs_diff_uint8_steps'][k]:5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".benchmarks/latest.json"))
