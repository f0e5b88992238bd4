"""``stylizer`` / ``python -m sdk`` {stylize,preview,styles,backends,bench,build-engine,demo}.

Exit codes: 0 ok; 1 runtime error (a file that cannot be read or written, a model or backend
problem), one line on stderr naming the file and what was expected; 2 usage error (a bad argument),
one line; 130 interrupted (Ctrl-C), with a partly written video closed properly. Never a traceback
(``STYLIZER_DEBUG=1`` shows one).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"}
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad argument found after parsing (e.g. an output suffix that does not fit the input): exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of the usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def prog_name() -> str:
    """``stylizer`` when run as the installed console script, else ``python -m sdk``."""
    return "stylizer" if Path(sys.argv[0]).name == "stylizer" else "python -m sdk"


def version() -> str:
    try:
        from importlib.metadata import version as dist_version
        return dist_version("stylizer-sdk")
    except Exception:  # running from a source tree that is not installed
        import sdk
        return sdk.__version__


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = _Parser(prog=prog_name(), description="Real-time style filters for images, video and cameras.",
                epilog="Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted (Ctrl-C).")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp):
        sp.add_argument("--model", default=None, help="model package folder (default: the shipped one)")
        sp.add_argument("--style", type=_style_spec, default=None,
                        help="style name (see the styles command) or a mix such as glow=0.7,vintage=0.3; "
                             "default: the first")
        sp.add_argument("--backend", default="auto", help="auto, onnxruntime, torch or torch-cuda")

    st = sub.add_parser("stylize", help="stylize an image, a video file or a camera", formatter_class=fmt)
    st.add_argument("input", help="image, video, folder of images/videos, a camera index such as 0, or a URI: "
                    "file://, v4l2:///dev/video0, rtsp://, rtmp://, udp://, srt://, http(s)://, a GStreamer pipeline")
    st.add_argument("-o", "--output", required=True, help="output image, video (.mp4/.mov/.mkv/.avi), folder, or a "
                    "stream to push to: rtsp://, rtmp://, udp://, srt://")
    common(st)
    st.add_argument("--strength", type=_strength, default=1.0, help="0 = original, 1 = fully stylized")
    st.add_argument("--max-frames", type=_positive_int, default=None, help="stop after this many frames (video/camera)")
    st.add_argument("--side-by-side", action="store_true", help="write input | stylized, labelled")
    st.add_argument("--codec", default=None, help="video codec: h264 (default for .mp4/.mov/.mkv), hevc, vp9, "
                    "mpeg4 or mjpeg (default for .avi)")
    st.add_argument("--no-audio", action="store_true", help="do not copy the input video's audio track")
    st.add_argument("-q", "--quiet", action="store_true", help="no progress bar (it is off anyway when stderr "
                    "is not a terminal)")
    st.add_argument("--preserve-color", action="store_true", help="keep the input's colours (stylized luminance only)")
    st.add_argument("--temporal", type=float, default=0.0,
                    help="video smoothing, 0 (off) to 0.95: blend toward the previous output where input and output are still")

    sty = sub.add_parser("styles", help="list the styles of a model package", formatter_class=fmt)
    sty.add_argument("--model", default=None, help="model package folder (default: the shipped one)")
    sty.add_argument("--card", action="store_true", help="also print the model card: training data, licences, "
                     "intended use, limits")

    sub.add_parser("backends", help="list backends and why each is (un)available")

    bench = sub.add_parser("bench", help="time stylize on synthetic frames, per stage", formatter_class=fmt)
    common(bench)
    bench.add_argument("--sizes", type=_sizes, default="640x360,1280x720", help="comma-separated WxH frame sizes")
    bench.add_argument("--frames", type=_positive_int, default=50, help="timed frames per size (after 5 warm-up frames)")
    bench.add_argument("--json", default=None, help="also write the results to this JSON file")

    be = sub.add_parser("build-engine", help="build and cache TensorRT engines ahead of time", formatter_class=fmt)
    be.add_argument("package", nargs="?", default=None, help="model package folder (default: the shipped one)")
    be.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"],
                    help="which ONNX of the package (strongly typed: the precision is the ONNX's)")
    be.add_argument("--sizes", type=_sizes, default="640x360,1280x720",
                    help="frame sizes WxH; one profile per working resolution")
    be.add_argument("--compute-capability", default=None,
                    help="build ahead of time for another GPU, e.g. SM86 (TensorRT for RTX only; no GPU needed)")
    be.add_argument("--out", default=None, help="also write the engine(s) to this folder")

    demo = sub.add_parser("demo", help="make a clip from a bundled photo and stylize it (needs scikit-image)",
                          formatter_class=fmt)
    demo.add_argument("--out", default="demo", help="folder for the input clip, stylized clips and before/after PNG")
    demo.add_argument("--frames", type=_positive_int, default=60)
    demo.add_argument("--size", type=_size, default="640x360", help="WxH of the clip")
    demo.add_argument("--backend", default="auto")

    pv = sub.add_parser("preview", help="show a camera or a video file live in a window, with keys to switch "
                        "style and strength", formatter_class=fmt)
    pv.add_argument("source", nargs="?", default="0", help="camera index, video file or URI, as stylize takes them")
    common(pv)
    pv.add_argument("--strength", type=_strength, default=1.0, help="starting strength (keys - and + change it)")
    return p


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected WxH such as 640x360") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be positive, such as 640x360")
    return w, h


def _sizes(text: str) -> list[tuple[int, int]]:
    return [_size(part) for part in text.split(",")]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"strength {text!r} is not a number; expected 0..1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"strength {value} is outside 0..1 (0 = original, 1 = fully stylized)")
    return value


def _style_spec(text: str):
    """``glow`` or a mix ``glow=0.7,vintage=0.3`` (names are checked against the model later)."""
    if "=" not in text:
        return int(text) if text.isdigit() else text
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"style mix {text!r}: weight {weight!r} of {name!r} is not a number; "
                                             "expected NAME=WEIGHT,NAME=WEIGHT such as glow=0.7,vintage=0.3") from None
    return mix


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


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else "other"


def _check_output(src_kind: str, output: Path, codec: str | None) -> None:
    """Usage errors for an output that cannot hold what the input gives: before any work."""
    from sdk.encode import check_video_path

    if src_kind == "image" and output.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"output {output}: an image is written as {', '.join(sorted(IMAGE_SUFFIXES))}; "
                         "give -o a path with one of those suffixes")
    if src_kind in ("video", "camera"):
        if output.suffix.lower() in IMAGE_SUFFIXES:
            raise UsageError(f"output {output}: the input is a video; give -o a .mp4, .mov, .mkv or .avi path")
        check_video_path(output, codec)
    if src_kind == "folder" and output.suffix and not output.is_dir():
        raise UsageError(f"output {output}: the input is a folder, so the output is a folder too; give -o a "
                         "folder path (it is created)")
    if src_kind != "folder" and output.is_dir():
        raise UsageError(f"output {output} is a folder; give -o a file path")


def _read_image(path: Path) -> np.ndarray:
    import cv2
    from sdk.errors import InvalidFrameError

    data = np.fromfile(str(path), np.uint8)  # not cv2.imread: it also refuses paths outside the locale
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InvalidFrameError(f"image {path} could not be decoded; expected a PNG, JPEG, WebP, BMP or TIFF file")
    if image.dtype == np.uint16:  # 16-bit PNG/TIFF: keep the top 8 bits, the frame contract is uint8
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InvalidFrameError(f"image {path} has {image.dtype} pixels; expected an 8- or 16-bit image")
    return image


def _write_image(path: Path, image: np.ndarray) -> None:
    import cv2
    from sdk.encode import make_parent
    from sdk.errors import VideoIOError

    make_parent(path)
    try:
        ok, encoded = cv2.imencode(path.suffix.lower(), image)
    except cv2.error:
        ok = False
    if not ok:
        raise VideoIOError(f"cannot encode image {path} as {path.suffix}; use .png or .jpg")
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(encoded.tobytes())  # written whole or not at all
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VideoIOError(f"cannot write image {path} ({exc.strerror}); use a writable folder") from None


def _stylize_image(stylizer, src: Path, dst: Path, args) -> None:
    from sdk.video import side_by_side_frame

    image = _read_image(src)
    out = stylizer(image)
    if args.side_by_side:
        out = side_by_side_frame(image, out if out.ndim == 3 else out[:, :, None].repeat(3, 2),
                                 stylizer.style_label())
    _write_image(dst, out)


def _video_kwargs(args) -> dict:
    return {"max_frames": args.max_frames, "progress": not args.quiet, "codec": args.codec,
            "audio": not args.no_audio, "side_by_side": args.side_by_side}


def cmd_stylize(args) -> int:
    import sdk
    from sdk.errors import StylizerError, VideoIOError

    from sdk.encode import parse_sink
    from sdk.video import parse_source

    source = parse_source(args.input)
    if source.kind == "file":
        src: str | int | Path = source.path
        if not src.exists():
            raise VideoIOError(f"input {src} does not exist; expected an image, a video, a folder, a camera index "
                               "or a stream URI")
        kind = "folder" if src.is_dir() else _kind(src)
        if kind == "other":
            kind = "video"  # OpenCV may still read it (an unusual container); it says so if not
    else:
        src, kind = args.input, "camera"  # a camera, a stream URI or a GStreamer pipeline
    local, _ = parse_sink(args.output)
    if local is None and kind in ("image", "folder"):
        raise UsageError(f"output {args.output}: a stream takes video; the input is {'a folder' if kind == 'folder' else 'an image'}")
    output = local if local is not None else args.output
    if local is not None:
        _check_output(kind, local, args.codec)
    else:
        from sdk.encode import check_video_path
        check_video_path(args.output, args.codec)
    with sdk.Stylizer(args.model, style=args.style, backend=args.backend, strength=args.strength,
                      preserve_color=args.preserve_color, temporal=args.temporal) as stylizer:
        print(f"backend: {stylizer.backend}", file=sys.stderr)
        if kind == "image":
            start = time.perf_counter()
            _stylize_image(stylizer, src, output, args)
            seconds = time.perf_counter() - start
            print(f"wrote {output}", file=sys.stderr)
            _print_stages(stylizer.stats(), 1, seconds)
            return EXIT_OK
        if kind == "folder":
            return _stylize_folder(stylizer, src, output, args)
        result = sdk.stylize_video(src, output, stylizer=stylizer, **_video_kwargs(args))
        if result.interrupted:
            print(f"interrupted: {output} holds the {result.frames} frames written so far", file=sys.stderr)
        if result.ended_early:
            print(f"warning: {src} ended after {result.frames + result.dropped} of the {result.expected} frames "
                  "it announced (truncated or corrupt)", file=sys.stderr)
        print(f"wrote {output}: {result.frames} frames, {result.fps:.1f} frames/s"
              + (f" ({result.dropped} frames dropped)" if result.dropped else ""), file=sys.stderr)
        _print_stages(result.stages, result.frames, result.seconds)
        return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _stylize_folder(stylizer, src: Path, out_dir: Path, args) -> int:
    """Every image and video directly in ``src`` into ``out_dir`` (images keep their name, videos become
    .mp4 unless --codec mjpeg); an unreadable file is skipped and listed, and the exit code is then 1."""
    import sdk
    from sdk.encode import make_parent
    from sdk.errors import StylizerError

    files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise UsageError(f"input folder {src} holds no files; expected images or videos")
    make_parent(out_dir / "x")
    written, skipped = 0, []
    for i, path in enumerate(files, 1):
        kind = _kind(path)
        if kind == "other":
            skipped.append((path, f"not an image or video ({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})"))
            continue
        dst = out_dir / (path.name if kind == "image" else path.stem + (".avi" if args.codec == "mjpeg" else ".mp4"))
        try:
            if kind == "image":
                _stylize_image(stylizer, path, dst, args)
            else:
                result = sdk.stylize_video(path, dst, stylizer=stylizer, **_video_kwargs(args))
                if result.interrupted:
                    raise KeyboardInterrupt
            written += 1
            if not args.quiet:
                print(f"[{i}/{len(files)}] wrote {dst}", file=sys.stderr)
        except StylizerError as exc:
            skipped.append((path, str(exc)))
    print(f"wrote {written} of {len(files)} files to {out_dir}" + (f"; skipped {len(skipped)}:" if skipped else ""),
          file=sys.stderr)
    for path, reason in skipped:
        print(f"  skipped {path.name}: {reason}", file=sys.stderr)
    return EXIT_RUNTIME if skipped else EXIT_OK


def cmd_bench(args) -> int:
    import sdk

    results = []
    with sdk.Stylizer(args.model, style=args.style, backend=args.backend) as stylizer:
        print(f"backend: {stylizer.backend}")
        for w, h in args.sizes:
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
    for w, h in args.sizes:
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


def cmd_demo(args) -> int:
    import cv2

    import sdk
    from sdk.errors import BackendUnavailableError
    from sdk.encode import write_video
    from sdk.media import camera_motion_frames
    from sdk.video import label

    try:
        import skimage.data
    except ImportError:
        raise BackendUnavailableError("the demo takes its photo from scikit-image; install it with "
                                      "`pip install scikit-image` (or `make demo`, which does)") from None
    out = Path(args.out)
    w, h = args.size
    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    clip = camera_motion_frames(photo, args.frames, (w, h))
    source = write_video(out / "input.mp4", clip)
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
            label(pair, "input", 0)
            label(pair, style, w)
            pairs.append(pair)
        write_video(out / "side_by_side.mp4", pairs)
        print(f"wrote {out / 'side_by_side.mp4'} (input | stylized, {', '.join(styles)} in turn)")
        # The whole photo, uncropped, beside each style: the subject is framed as the photographer framed it.
        cells = [photo] + [stylizer(photo, style=style) for style in styles]
    height = h
    width = int(round(photo.shape[1] * height / photo.shape[0]))
    cells = [cv2.resize(c, (width, height), interpolation=cv2.INTER_AREA) for c in cells]
    for cell, title in zip(cells, ["before"] + list(styles)):
        label(cell, title, 0)
    cv2.imwrite(str(out / "before_after.png"), np.concatenate(cells, axis=1))
    print(f"wrote {out / 'before_after.png'} (the whole photo, then {', '.join(styles)})")
    return 0


def cmd_preview(args) -> int:
    import sdk
    from sdk import preview

    preview.check_display()  # before the model loads: the common failure is the cheap one
    with sdk.Stylizer(args.model, backend=args.backend) as stylizer:
        first = stylizer.style_vector(args.style)[0, :, 0, 0].argmax() if args.style is not None else 0
        print(f"backend: {stylizer.backend}; keys: {preview.HELP}", file=sys.stderr)
        shown = preview.run(stylizer, args.source, strength=args.strength, style=int(first),
                            max_frames=int(os.environ.get("STYLIZER_PREVIEW_FRAMES", 0)) or None)
    print(f"showed {shown} frames", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    # OpenCV's FFmpeg logs its own line for a corrupt file ("moov atom not found") beside ours: ours says it.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # its warnings too (a camera that is absent)
    args = _parser().parse_args(argv)
    from sdk.errors import InvalidArgumentError, StylizerError, UnknownStyleError

    commands = {"stylize": cmd_stylize, "styles": cmd_styles, "backends": cmd_backends, "bench": cmd_bench,
                "demo": cmd_demo, "build-engine": cmd_build_engine, "preview": cmd_preview}
    prog = prog_name()
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, UnknownStyleError, InvalidArgumentError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StylizerError, OSError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("STYLIZER_DEBUG"):
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (STYLIZER_DEBUG=1 shows the traceback; "
              "please report it)", file=sys.stderr)
        return EXIT_RUNTIME


def cmd_styles(args) -> int:
    import sdk
    package = sdk.load_package(args.model)
    for s in package.styles:
        print(f"{s.index}  {s.name:<10} {s.description}")
    if args.card:
        card = package.manifest.get("model_card")
        if card is None:
            print(f"\n{package.path} has no model card (`python -m trainer model-card --package ...` writes one)")
            return EXIT_OK
        from sdk.package import describe_model_card
        print(f"\nModel card of {package.path}:")
        print("\n".join("  " + line for line in describe_model_card(card).splitlines()))
    return EXIT_OK


def cmd_backends(_args) -> int:
    import sdk
    for b in sdk.list_backends():
        print(f"{b.name:<12} {'available' if b.available else 'unavailable':<12} {b.reason}")
    return EXIT_OK
