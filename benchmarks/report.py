"""Print the benchmark medians per frame size and the speed-up over each baseline.

Usage: python -m benchmarks.report .benchmarks/latest.json
"""
import json
import sys

ROWS = [("test_end_to_end_onnxruntime", "stylize_frame, ONNX Runtime CPU (end to end, auto variant)"),
        ("test_stage_pre", "  stage pre (resize, normalize, NCHW)"),
        ("test_stage_infer_onnxruntime", "  stage infer (ONNX Runtime)"),
        ("test_stage_post", "  stage post (denormalize, HWC, blend)"),
        ("test_baseline_generic_session", "baseline: ONNX Runtime, style as an input"),
        ("test_baseline_torch_eager", "baseline: same model, PyTorch eager CPU"),
        ("test_baseline_cv2_stylization", "baseline: cv2.stylization")]


def main(path: str) -> int:
    data = json.load(open(path))
    by = {}
    for b in data["benchmarks"]:
        name = b["name"].split("[")[0]
        # variants keep their parameter (minus the frame size), everything else is one row per test
        key = b["name"].replace(f"-{b['group']}]", "]").replace(f"[{b['group']}-", "[") if name == "test_variant" else name
        by[(b["group"], key)] = b["stats"]["median"] * 1e3
    info = data["machine_info"]
    print(f"\nmachine: {info.get('cpu', {}).get('brand_raw', info.get('processor'))}, "
          f"{data['benchmarks'][0]['extra_info'].get('cpu_count')} cores; commit {data['commit_info'].get('id', '')[:8]}")
    for group in sorted({g for g, _ in by}, key=lambda g: int(g.rstrip("p"))):
        ours = by.get((group, "test_end_to_end_onnxruntime"))
        print(f"\n{group}: median ms, FPS, and our end-to-end speed-up over each row")
        variants = sorted(k for g, k in by if g == group and k.startswith("test_variant["))
        rows = ROWS[:4] + [(k, f"  variant {k[len('test_variant['):-1]}") for k in variants] + ROWS[4:]
        for key, label in rows:
            ms = by.get((group, key))
            if ms is None:
                continue
            ratio = f"{ms / ours:5.2f}x" if ours and key.startswith("test_baseline") else ""
            fp32 = by.get((group, "test_variant[fp32]"))
            if fp32 and key.startswith("test_variant["):
                ratio = f"{fp32 / ms:5.2f}x faster than fp32"
            print(f"  {label:<48} {ms:8.2f} ms {1e3 / ms:8.1f} FPS  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".benchmarks/latest.json"))
