"""Distance to each look on held-out photos: does the model move photos toward its look?

For a style whose look has a reference filter, PSNR(model(photo), filter(photo)) is
compared with PSNR(photo, filter(photo)); the gain in dB is how far the model moved
the photo toward the look. Photos come from ``trainer.photos.HELD_OUT``: seen neither
as content nor as look targets during training.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from trainer import looks, photos


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def look_table(stylize_rgb: Callable[[np.ndarray, str], np.ndarray], styles: list[str],
               photo_names: tuple[str, ...] = photos.HELD_OUT) -> dict[str, dict[str, float]]:
    """{style: {"model_psnr", "identity_psnr", "gain_db"}} averaged over the photos.

    ``stylize_rgb(rgb_uint8, style_name) -> rgb_uint8`` of the same shape.
    """
    images = photos.load_set(photo_names)
    table = {}
    for style in styles:
        look = looks.get_look(style)
        model_scores, identity_scores = [], []
        for image in images:
            target = look(image)
            model_scores.append(psnr(stylize_rgb(image, style), target))
            identity_scores.append(psnr(image, target))
        m, i = float(np.mean(model_scores)), float(np.mean(identity_scores))
        table[style] = {"model_psnr": round(m, 2), "identity_psnr": round(i, 2), "gain_db": round(m - i, 2)}
    return table


def markdown(table: dict[str, dict[str, float]]) -> str:
    lines = ["| style | PSNR model -> look (dB) | PSNR untouched -> look (dB) | gain (dB) |",
             "|---|---|---|---|"]
    for style, row in table.items():
        lines.append(f"| {style} | {row['model_psnr']:.2f} | {row['identity_psnr']:.2f} | {row['gain_db']:+.2f} |")
    return "\n".join(lines)


# -- the evaluation report (python -m trainer evaluate) ------------------------------------------

MOTION_CLIPS = ("pan", "zoom", "rotate")
CLIP_FRAMES, CLIP_SIZE = 10, (320, 240)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def load_folder(folder: str | Path) -> dict[str, np.ndarray]:
    """Every image in a folder as HxWx3 uint8 RGB, by file name."""
    import cv2
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    out = {}
    for p in paths:
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{p} could not be decoded as an image")
        out[p.name] = np.ascontiguousarray(image[:, :, ::-1])
    return out


class FixedFeatures:
    """A fixed random conv net (seeded; no download) whose channel mean/std statistics describe a
    look where no reference filter exists: the distance between the statistics of a model's outputs
    and those of the look photos. Random conv features capture colour and texture statistics well
    enough to rank images by look (Ulyanov et al. 2017 use them for texture synthesis)."""

    def __init__(self, seed: int = 1234):
        import torch
        g = torch.Generator().manual_seed(seed)
        self.weights = []
        for cin, cout in ((3, 16), (16, 32), (32, 64)):
            w = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
            self.weights.append(w)

    def stats(self, images: list[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F
        rows = []
        for image in images:
            x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
            feats = [x.mean((2, 3)).flatten(), x.std((2, 3)).flatten()]
            for w in self.weights:
                x = F.relu(F.conv2d(x, w, stride=2, padding=1))
                feats += [x.mean((2, 3)).flatten(), x.std((2, 3)).flatten()]
            rows.append(torch.cat(feats).numpy())
        return np.mean(rows, axis=0)

    def distance(self, a: list[np.ndarray], b: list[np.ndarray]) -> float:
        return float(np.linalg.norm(self.stats(a) - self.stats(b)))


def luma_ssim(a: np.ndarray, b: np.ndarray) -> float:
    import cv2
    from skimage.metrics import structural_similarity
    ya, yb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
    return float(structural_similarity(ya, yb, data_range=255))


def _throughput_ms(stylizer, style, size_wh, frames: int = 20) -> float:
    import time
    frame = np.random.default_rng(0).integers(0, 256, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    for _ in range(3):
        stylizer(frame, style=style)
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        stylizer(frame, style=style)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def evaluate_package(package, images: dict[str, np.ndarray], look_photos: list[np.ndarray] | None = None,
                     temporal: float = 0.0) -> dict:
    """Every number of the report for one package: per style, and throughput."""
    import sdk
    from sdk.media import camera_motion, warping_error

    features = FixedFeatures()
    result = {"styles": {}, "backend": None}
    clips = [camera_motion(image, CLIP_FRAMES, CLIP_SIZE, motion) for image in images.values()
             for motion in MOTION_CLIPS]
    input_warp = float(np.mean([warping_error(frames, ms) for frames, ms in clips]))
    with sdk.Stylizer(package, backend="onnxruntime", color_order="rgb", temporal=temporal) as stylizer:
        result["backend"] = stylizer.backend
        for style in stylizer.styles:
            outputs = {name: stylizer(image, style=style) for name, image in images.items()}
            stylizer.reset()
            row = {"content_ssim": round(float(np.mean([luma_ssim(outputs[n], images[n]) for n in images])), 4)}
            if style in looks.LOOKS:
                look = looks.get_look(style)
                targets = {n: look(images[n]) for n in images}
                model_psnr = np.mean([psnr(outputs[n], targets[n]) for n in images])
                identity_psnr = np.mean([psnr(images[n], targets[n]) for n in images])
                row.update(look_psnr=round(float(model_psnr), 2), identity_psnr=round(float(identity_psnr), 2),
                           gain_db=round(float(model_psnr - identity_psnr), 2),
                           look_ssim=round(float(np.mean([luma_ssim(outputs[n], targets[n]) for n in images])), 4))
                reference = list(targets.values())
            else:
                reference = look_photos or []
            if reference:
                row["feature_distance"] = round(features.distance(list(outputs.values()), reference), 4)
                row["feature_distance_untouched"] = round(features.distance(list(images.values()), reference), 4)
            warps = []
            for frames, ms in clips:
                stylizer.reset()
                warps.append(warping_error([stylizer(f, style=style) for f in frames], ms))
            stylizer.reset()
            model_warp = float(np.mean(warps))
            row.update(warping_error=round(model_warp, 3), warping_error_input=round(input_warp, 3),
                       warping_error_added=round(model_warp - input_warp, 3))
            if style in looks.LOOKS:
                # A look with more contrast than the photo (cartoon's saturation, sketch's lines) has a larger
                # warping error even when applied perfectly: the flicker the model adds is measured against that.
                look_warp = float(np.mean([warping_error([look(f) for f in frames], ms) for frames, ms in clips]))
                row.update(warping_error_look=round(look_warp, 3),
                           warping_error_over_look=round(model_warp - look_warp, 3))
            row["ms_640x360"] = round(_throughput_ms(stylizer, style, (640, 360)), 2)
            row["ms_1280x720"] = round(_throughput_ms(stylizer, style, (1280, 720), frames=10), 2)
            row["_outputs"] = outputs
            result["styles"][style] = row
    return result


def _grid(images: dict[str, np.ndarray], outputs: dict[str, np.ndarray], style: str, height: int = 128) -> np.ndarray:
    """Rows: photos; columns: input, output, and the look's reference filter output where one exists."""
    import cv2
    rows = []
    look = looks.get_look(style) if style in looks.LOOKS else None
    for name, image in images.items():
        cells = [image, outputs[name]] + ([look(image)] if look else [])
        w = int(round(image.shape[1] * height / image.shape[0]))
        rows.append(np.hstack([cv2.resize(c, (w, height), interpolation=cv2.INTER_AREA) for c in cells]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.vstack(rows)


def write_report(results: list[tuple[str, str, dict]], images: dict[str, np.ndarray], out_dir: str | Path,
                 command: str = "") -> Path:
    """report.md (+ one PNG grid per package and style) for ``[(label, package path, evaluate_package(...))]``."""
    import cv2
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Evaluation report", "",
             f"Photos: {', '.join(images)} (never seen in training when they are the default held-out set). "
             f"Temporal: warping error (mean |O_t - warp(O_t-1)|, uint8 steps, valid pixels) on "
             f"{len(images) * len(MOTION_CLIPS)} synthetic {CLIP_SIZE[0]}x{CLIP_SIZE[1]} camera-motion clips "
             f"({', '.join(MOTION_CLIPS)}; {CLIP_FRAMES} frames each) made from the photos; 'added' subtracts the "
             "input clips' own warping error (the interpolation floor); 'over the look's own' subtracts the warping "
             "error of the look's reference filter on the same clips. Throughput: ONNX Runtime CPU, "
             "median ms per frame through Stylizer.", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["| model | style | PSNR to look (dB) | untouched (dB) | gain (dB) | SSIM to look | feature distance "
              "(model / untouched) | content SSIM | warping error | added | over the look's own | ms 360p | ms 720p |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, _path, result in results:
        for style, r in result["styles"].items():
            fd = (f"{r['feature_distance']:.3f} / {r['feature_distance_untouched']:.3f}"
                  if "feature_distance" in r else "n/a")
            lines.append(f"| {label} | {style} | {r.get('look_psnr', 'n/a')} | {r.get('identity_psnr', 'n/a')} | "
                         f"{r.get('gain_db', 'n/a')} | {r.get('look_ssim', 'n/a')} | {fd} | {r['content_ssim']} | "
                         f"{r['warping_error']:.3f} | {r['warping_error_added']:+.3f} | "
                         f"{format(r['warping_error_over_look'], '+.3f') if 'warping_error_over_look' in r else 'n/a'} | "
                         f"{r['ms_640x360']} | "
                         f"{r['ms_1280x720']} |")
    lines.append("")
    lines.append(f"Input clips' own warping error: {results[0][2]['styles'][next(iter(results[0][2]['styles']))]['warping_error_input']:.3f}.")
    lines.append("")
    for index, (label, path, result) in enumerate(results):
        lines += [f"## {label}", "", f"Package `{path}`, backend: {result['backend']}.", ""]
        for style, r in result["styles"].items():
            name = f"grid_{index}_{style}.jpg"  # JPEG: the grids are committed next to the report
            cv2.imwrite(str(out_dir / name), _grid(images, r["_outputs"], style)[:, :, ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 85])
            cols = "input, output" + (", the look's reference filter" if style in looks.LOOKS else "")
            lines += [f"**{style}** (columns: {cols})", "", f"![{label} {style}]({name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    clean = [{"label": label, "package": str(p), "backend": r["backend"],
              "styles": {s: {k: v for k, v in row.items() if k != "_outputs"} for s, row in r["styles"].items()}}
             for label, p, r in results]
    (out_dir / "report.json").write_text(json.dumps(clean, indent=2))
    return path


# -- the looks bar: closure against classical baselines on the corpus's test split ------------------

def looks_sets(corpus_root: str | Path | None = None) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[np.ndarray], str]:
    """(test photos at evaluation size, plain training photos, look-side training photos, where from).

    The photo corpus (``python -m trainer photos fetch``) when it is there; otherwise the bundled
    scikit-image sets (held-out, content, look side), which are too few to judge a look by."""
    from trainer import closure, corpus
    if corpus.available(corpus_root):
        test = {k: closure.eval_size(v) for k, v in corpus.load("test", corpus_root).items()}
        plain = [closure.eval_size(v) for v in corpus.load("train-content", corpus_root).values()]
        look = [closure.eval_size(v) for v in corpus.load("train-look", corpus_root).values()]
        return test, plain, look, f"the photo corpus's test split ({corpus_root or corpus.cache_dir()})"
    test = {n: closure.eval_size(photos.load_photo(n)) for n in photos.HELD_OUT}
    return (test, [closure.eval_size(im) for im in photos.load_set(photos.CONTENT)],
            [closure.eval_size(im) for im in photos.load_set(photos.STYLE)],
            "the bundled held-out photos (no corpus: run `python -m trainer photos fetch` for the real test split)")


def looks_report(package, out_dir: str | Path, corpus_root: str | Path | None = None,
                 precision: str = "auto", small_copy: str | Path | None = None) -> tuple[dict, str]:
    """Closure table (trainer.closure) of a package's styles that have a reference filter, written
    as ``looks.md``, ``looks.json`` and ``contact_sheet.jpg`` (rows: test photos; columns: the
    original and each style) in ``out_dir``; returns (table, markdown)."""
    import cv2
    import sdk
    from trainer import closure
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    test, plain, look, where = looks_sets(corpus_root)
    with sdk.Stylizer(package, backend="onnxruntime", color_order="rgb", precision=precision) as stylizer:
        styles = [s for s in stylizer.styles if s in looks.LOOKS]
        table = closure.closure_table(lambda im, s: stylizer(im, style=s), styles, test, plain, look, looks.get_look)
    text = "\n".join([
        f"Photos: {where}, {len(test)} pictures at long side {closure.EVAL_LONG_SIDE} px; baselines fitted on "
        f"{len(plain)} plain and {len(look)} other (look-side) training photos. Package `{package or 'shipped'}`, "
        f"ONNX Runtime, precision {precision}.", "",
        "closure = 1 - MAE(output, reference) / MAE(photo, reference); reference = the look's filter on the "
        "same photo. Bars: mean >= 0.75 and above the best baseline, no photo below 0.5 (cartoon: above the "
        "baselines); sketch: edge correlation >= 0.8, mean saturation <= 8/255. Figures in parentheses are "
        "given for reference only.", "", closure.markdown(table)])
    (out_dir / "looks.md").write_text(text + "\n")
    clean = {s: {k: v for k, v in e.items() if k != "photos"} | {
        "photos": {n: {k: round(v, 4) for k, v in r.items() if isinstance(v, float)} for n, r in e["photos"].items()}}
        for s, e in table.items()}
    (out_dir / "looks.json").write_text(json.dumps(clean, indent=1))
    sheet = closure.contact_sheet(test, table)
    cv2.imwrite(str(out_dir / "contact_sheet.jpg"), sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    if small_copy:  # the README's picture: small enough to commit (under 300 KB)
        small = closure.contact_sheet(test, table, height=120)
        for quality in (85, 75, 65, 55):
            ok, data = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(data) < 300_000:
                break
        Path(small_copy).parent.mkdir(parents=True, exist_ok=True)
        Path(small_copy).write_bytes(data.tobytes())
    return table, text
