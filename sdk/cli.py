"""python -m sdk {stylize,styles,backends,bench,build-engine,demo}. Exit 0 ok, 1 runtime error, 2 usage error."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="python -m sdk", description="Real-time style filters for images, video and cameras.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--model", default=None, help="model package folder (default: the shipped one)")
        sp.add_argument("--style", default=None, help="style name (see `python -m sdk styles`); default: the first")
        sp.add_argument("--backend", default="auto", help="auto, onnxruntime, torch or torch-cuda")

    st = sub.add_parser("stylize", help="stylize an image, a video file or a camera", formatter_class=fmt)
    st.add_argument("input", help="image or video path, or a camera index such as 0")
    st.add_argument("-o", "--output", required=True, help="output image or video (.mp4/.avi) path")
    common(st)
    st.add_argument("--strength", type=float, default=1.0, help="0 = original, 1 = fully stylized")
    st.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (video/camera)")
    st.add_argument("--preserve-color", action="store_true", help="keep the input's colours (stylized luminance only)")
    st.add_argument("--temporal", type=float, default=0.0,
                    help="video smoothing, 0 (off) to 0.95: blend toward the previous output where the input is still")

    sty = sub.add_parser("styles", help="list the styles of a model package", formatter_class=fmt)
    sty.add_argument("--model", default=None, help="model package folder (default: the shipped one)")

    sub.add_parser("backends", help="list backends and why each is (un)available")

    bench = sub.add_parser("bench", help="time stylize on synthetic frames, per stage", formatter_class=fmt)
    common(bench)
    bench.add_argument("--sizes", default="640x360,1280x720", help="comma-separated WxH frame sizes")
    bench.add_argument("--frames", type=int, default=50, help="timed frames per size (after 5 warm-up frames)")
    bench.add_argument("--json", default=None, help="also write the results to this JSON file")

    be = sub.add_parser("build-engine", help="build and cache TensorRT engines ahead of time", formatter_class=fmt)
    be.add_argument("package", nargs="?", default=None, help="model package folder (default: the shipped one)")
    be.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"],
                    help="which ONNX of the package (strongly typed: the precision is the ONNX's)")
    be.add_argument("--sizes", default="640x360,1280x720", help="frame sizes WxH; one profile per working resolution")
    be.add_argument("--compute-capability", default=None,
                    help="build ahead of time for another GPU, e.g. SM86 (TensorRT for RTX only; no GPU needed)")
    be.add_argument("--out", default=None, help="also write the engine(s) to this folder")

    demo = sub.add_parser("demo", help="make a clip from a bundled photo and stylize it (needs scikit-image)",
                          formatter_class=fmt)
    demo.add_argument("--out", default="demo", help="folder for the input clip, stylized clips and before/after PNG")
    demo.add_argument("--frames", type=int, default=60)
    demo.add_argument("--size", default="640x360", help="WxH of the clip")
    demo.add_argument("--backend", default="auto")
    return p


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected WxH such as 640x360") from None
    return w, h


def _print_stages(stats: dict, frames: int, seconds: float, out=None) -> None:
    out = out or sys.stdout
    print(f"{'stage':<6} {'p50 ms':>8} {'p95 ms':>8}", file=out)
    for stage in ("pre", "infer", "post", "total"):
        if stage in stats:
            print(f"{stage:<6} {stats[stage]['p50_ms']:8.2f} {stats[stage]['p95_ms']:8.2f}", file=out)
    print(f"{frames} frames in {seconds:.2f} s: {frames / max(seconds, 1e-9):.1f} frames/s", file=out)


def _synthetic_frame(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A photo-like frame (smooth gradients, edges, mild noise) without any bundled media."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(xx / 53 + c) * np.cos(yy / 37 - c) for c in (0.0, 1.0, 2.0)], axis=2)
    frame = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    for _ in range(12):
        cv2.circle(frame, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(5, max(6, h // 4))),
                   tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return frame


def cmd_stylize(args) -> int:
    import cv2

    import sdk
    from sdk.errors import InvalidFrameError, VideoIOError

    with sdk.Stylizer(args.model, style=args.style, backend=args.backend, strength=args.strength,
                      preserve_color=args.preserve_color, temporal=args.temporal) as stylizer:
        print(f"backend: {stylizer.backend}", file=sys.stderr)
        src: str | int = int(args.input) if args.input.isdigit() else args.input
        if isinstance(src, str) and Path(src).suffix.lower() in IMAGE_SUFFIXES:
            if not Path(src).is_file():
                raise VideoIOError(f"image {src} does not exist")
            image = cv2.imread(src, cv2.IMREAD_UNCHANGED)
            if image is None:
                raise InvalidFrameError(f"image {src} could not be decoded; expected a PNG/JPEG/... file")
            if image.dtype != np.uint8:  # 16-bit PNG/TIFF: keep the top 8 bits, the frame contract is uint8
                image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image
            start = time.perf_counter()
            out = stylizer(image)
            seconds = time.perf_counter() - start
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(args.output, out):
                raise VideoIOError(f"cannot write image {args.output}; use a .png or .jpg path in a writable folder")
            print(f"wrote {args.output}", file=sys.stderr)
            _print_stages(stylizer.stats(), 1, seconds)
            return 0
        result = sdk.stylize_video(src, args.output, stylizer=stylizer, max_frames=args.max_frames, progress=True)
        if result.interrupted:
            print(f"interrupted: {args.output} holds the {result.frames} frames written so far", file=sys.stderr)
        if result.ended_early:
            print(f"warning: {src} ended after {result.frames + result.dropped} of the {result.expected} frames "
                  "it announced (truncated or corrupt)", file=sys.stderr)
        print(f"wrote {args.output}" + (f" ({result.dropped} frames dropped)" if result.dropped else ""), file=sys.stderr)
        _print_stages(result.stages, result.frames, result.seconds)
        return 130 if result.interrupted else 0


def cmd_bench(args) -> int:
    import sdk

    results = []
    with sdk.Stylizer(args.model, style=args.style, backend=args.backend) as stylizer:
        print(f"backend: {stylizer.backend}")
        for w, h in (_size(s) for s in args.sizes.split(",")):
            frame = _synthetic_frame(w, h)
            for _ in range(5):
                stylizer(frame)
            stylizer.timer.clear()
            start = time.perf_counter()
            for _ in range(args.frames):
                stylizer(frame)
            seconds = time.perf_counter() - start
            stats = stylizer.stats()
            print(f"\n{w}x{h}")
            _print_stages(stats, args.frames, seconds)
            results.append({"size": [w, h], "frames": args.frames, "seconds": seconds, "stages": stats})
    if args.json:
        Path(args.json).write_text(json.dumps({"backend": args.backend, "results": results}, indent=2))
    return 0


def cmd_build_engine(args) -> int:
    import sdk
    from sdk import frames
    from sdk.tensorrt import builder

    package = sdk.load_package(args.package)
    flavour, trt = builder.import_tensorrt()
    onnx_bytes = package.file(args.precision).read_bytes()
    for w, h in (_size(s) for s in args.sizes.split(",")):
        size = frames.working_size(h, w, package.stride, package.max_side, package.min_side)
        if args.compute_capability:
            gpu, cc = f"ahead-of-time {args.compute_capability}", args.compute_capability
        else:
            import torch
            gpu, cc = torch.cuda.get_device_name(0), "sm_%d%d" % torch.cuda.get_device_capability(0)
        key = builder.EngineKey(package.sha256(args.precision), flavour, trt.__version__, gpu, cc, args.precision,
                                (tuple(size),))
        engine = builder.load_cached(key)
        if engine is None:
            start = time.perf_counter()
            engine = builder.build_engine(onnx_bytes, package.manifest["input"]["name"], len(package.styles), [size],
                                          flavour, args.compute_capability, progress=True)
            path = builder.store(key, engine)
            print(f"built {path} ({len(engine) / 1e6:.1f} MB) for {w}x{h} (works at {size[1]}x{size[0]}) "
                  f"in {time.perf_counter() - start:.1f} s with {flavour} {trt.__version__}")
        else:
            print(f"cached engine for {w}x{h} is up to date")
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / f"generator.{args.precision}.{size[1]}x{size[0]}.engine").write_bytes(engine)
    return 0


def _label(image: np.ndarray, text: str, x: int) -> None:
    import cv2
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 2)):  # outlined: legible on any picture
        cv2.putText(image, text, (x + 8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.75, colour, thickness, cv2.LINE_AA)


def cmd_demo(args) -> int:
    import cv2

    import sdk
    from sdk.errors import BackendUnavailableError
    from sdk.media import camera_motion_frames, write_clip

    try:
        import skimage.data
    except ImportError:
        raise BackendUnavailableError("the demo takes its photo from scikit-image; install it with "
                                      "`pip install scikit-image` (or `make demo`, which does)") from None
    out = Path(args.out)
    w, h = _size(args.size)
    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    clip = camera_motion_frames(photo, args.frames, (w, h))
    source = write_clip(out / "input.mp4", clip)
    print(f"wrote {source} ({args.frames} frames, {w}x{h}, camera motion over skimage's astronaut photo)")
    with sdk.Stylizer(backend=args.backend) as stylizer:
        print(f"backend: {stylizer.backend}")
        styles = stylizer.styles
        for style in styles:
            result = sdk.stylize_video(source, out / f"stylized_{style}.mp4", style=style, stylizer=stylizer,
                                       progress=True)
            print(f"wrote {out / f'stylized_{style}.mp4'}: {result.frames} frames, {result.fps:.1f} frames/s")
            _print_stages(result.stages, result.frames, result.seconds)
        # Input | stylized, the style changing every len(clip) / len(styles) frames.
        pairs = []
        for i, frame in enumerate(clip):
            style = styles[min(i * len(styles) // len(clip), len(styles) - 1)]
            pair = np.concatenate([frame, stylizer(frame, style=style)], axis=1)
            _label(pair, "input", 0)
            _label(pair, style, w)
            pairs.append(pair)
        write_clip(out / "side_by_side.mp4", pairs)
        print(f"wrote {out / 'side_by_side.mp4'} (input | stylized, {', '.join(styles)} in turn)")
        # The whole photo, uncropped, beside each style: the subject is framed as the photographer framed it.
        cells = [photo] + [stylizer(photo, style=style) for style in styles]
    height = h
    width = int(round(photo.shape[1] * height / photo.shape[0]))
    cells = [cv2.resize(c, (width, height), interpolation=cv2.INTER_AREA) for c in cells]
    for cell, title in zip(cells, ["before"] + list(styles)):
        _label(cell, title, 0)
    cv2.imwrite(str(out / "before_after.png"), np.concatenate(cells, axis=1))
    print(f"wrote {out / 'before_after.png'} (the whole photo, then {', '.join(styles)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from sdk.errors import StylizerError

    try:
        if args.command == "stylize":
            return cmd_stylize(args)
        if args.command == "styles":
            import sdk
            package = sdk.load_package(args.model)
            for s in package.styles:
                print(f"{s.index}  {s.name:<10} {s.description}")
            return 0
        if args.command == "backends":
            import sdk
            for b in sdk.list_backends():
                print(f"{b.name:<12} {'available' if b.available else 'unavailable':<12} {b.reason}")
            return 0
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "build-engine":
            return cmd_build_engine(args)
    except (StylizerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2
