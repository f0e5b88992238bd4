"""How much of each look a model reaches on unseen photos, against classical baselines.

``closure = 1 - MAE(output, reference) / MAE(photo, reference)`` (RGB, 0-255), where the
reference is the look's filter (``trainer.looks``) applied to the same photo: the untouched
photo scores 0, the reference itself 1, and a result farther from the look than the photo
is negative. The baselines are fitted unpaired, as the trainer is: ``plain`` photos and
``look`` photos are different pictures.

* Reinhard et al. 2001: each photo's Lab mean and spread moved to the look photos' (per image).
* A global Lab scale-and-shift (six numbers) that maps the plain photos' Lab statistics onto the
  look photos'.
* The same six numbers fitted between the *balanced copies* of the two sides, the photos as the
  trainer sees them (``trainer.data.colour_variants``: random exposure, contrast, saturation and cast
  drawn alike on both sides, the look applied after): a colour transfer given the trainer's own data.

The baseline score of a photo is the better of the two for that photo, so a model must beat
the stronger one on each photo to beat it on average.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

SKETCH_SATURATION_BAR = 8.0  # mean saturation (max - min of R, G, B) in uint8 steps
BARS = {"closure": 0.75, "worst": 0.5, "sketch_edge_correlation": 0.8}
EVAL_LONG_SIDE = 640


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def closure(output: np.ndarray, photo: np.ndarray, reference: np.ndarray) -> float:
    return 1.0 - mae(output, reference) / max(mae(photo, reference), 1e-9)


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def _rgb(lab: np.ndarray, shape) -> np.ndarray:
    import cv2
    rgb = cv2.cvtColor(lab.reshape(shape).astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def lab_statistics(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of L, a, b over every pixel of a set of images (each counted by its pixels)."""
    pixels = np.concatenate([_lab(im) for im in images])
    return pixels.mean(0), pixels.std(0)


BALANCED_COPIES = 6


def balanced_copies(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Each photo's colour copies as the corpus trainer draws them (balanced white, contrast, exposure,
    saturation), ``BALANCED_COPIES`` a photo from a fixed seed."""
    from trainer.data import colour_variants
    rng = np.random.default_rng(seed)
    return [v for im in images for v in colour_variants(im, BALANCED_COPIES, rng, balance_white=True,
                                                           balance_contrast=True)]


class ColourTransferBaselines:
    """The classical baselines, fitted on a plain set and a look set of different photos.

    ``balanced_plain`` and ``balanced_look`` (optional): the two sides' balanced copies (the look
    applied after balancing), for :meth:`balanced_lab`."""

    def __init__(self, plain: list[np.ndarray], look: list[np.ndarray],
                 balanced_plain: list[np.ndarray] | None = None, balanced_look: list[np.ndarray] | None = None):
        self.plain_mean, self.plain_std = lab_statistics(plain)
        self.look_mean, self.look_std = lab_statistics(look)
        self.balanced = None
        if balanced_plain and balanced_look:
            self.balanced = (*lab_statistics(balanced_plain), *lab_statistics(balanced_look))

    def reinhard(self, photo: np.ndarray) -> np.ndarray:
        lab = _lab(photo)
        mean, std = lab.mean(0), lab.std(0)
        return _rgb((lab - mean) / np.maximum(std, 1e-6) * self.look_std + self.look_mean, photo.shape)

    def global_lab(self, photo: np.ndarray) -> np.ndarray:
        return self._scale_shift(photo, self.plain_mean, self.plain_std, self.look_mean, self.look_std)

    def balanced_lab(self, photo: np.ndarray) -> np.ndarray:
        if self.balanced is None:
            raise ValueError("balanced_lab needs the balanced copies of both sides (balanced_plain, balanced_look)")
        return self._scale_shift(photo, *self.balanced)

    @staticmethod
    def _scale_shift(photo, plain_mean, plain_std, look_mean, look_std) -> np.ndarray:
        lab = _lab(photo)
        return _rgb((lab - plain_mean) * (look_std / np.maximum(plain_std, 1e-6)) + look_mean, photo.shape)


def sobel_magnitude(rgb: np.ndarray) -> np.ndarray:
    import cv2
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def edge_correlation(output: np.ndarray, reference: np.ndarray) -> float:
    a, b = sobel_magnitude(output).ravel(), sobel_magnitude(reference).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def mean_saturation(rgb: np.ndarray) -> float:
    x = rgb.astype(np.int16)
    return float((x.max(2) - x.min(2)).mean())


def eval_size(image: np.ndarray, long_side: int = EVAL_LONG_SIDE) -> np.ndarray:
    """The photo at the evaluation size: long side ``long_side``, both sides multiples of 4."""
    import cv2
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(4, int(round(w * scale / 4)) * 4), max(4, int(round(h * scale / 4)) * 4))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def closure_table(stylize: Callable[[np.ndarray, str], np.ndarray], styles: list[str],
                  test: dict[str, np.ndarray], plain: list[np.ndarray], look_sources: list[np.ndarray],
                  look_fn: Callable[[str], Callable[[np.ndarray], np.ndarray]]) -> dict:
    """Per style: the model's and the baselines' closure (mean and worst photo), sketch metrics, outputs.

    ``stylize(rgb, style) -> rgb``; ``test``: photos at evaluation size; ``plain``: the training
    content photos; ``look_sources``: the other training photos, which ``look_fn(style)`` turns
    into the look set the baselines are fitted on.
    """
    table = {}
    balanced_plain = balanced_copies(plain, seed=1)
    balanced_sources = balanced_copies(look_sources, seed=2)
    for style in styles:
        look = look_fn(style)
        baselines = ColourTransferBaselines(plain, [look(im) for im in look_sources],
                                            balanced_plain, [look(im) for im in balanced_sources])
        rows = {}
        for name, photo in test.items():
            reference = look(photo)
            output = stylize(photo, style)
            reinhard = closure(baselines.reinhard(photo), photo, reference)
            global_lab = closure(baselines.global_lab(photo), photo, reference)
            balanced_lab = closure(baselines.balanced_lab(photo), photo, reference)
            rows[name] = {"model": closure(output, photo, reference), "reinhard": reinhard, "global_lab": global_lab,
                          "balanced_lab": balanced_lab, "baseline": max(reinhard, global_lab, balanced_lab),
                          "output": output, "reference": reference,
                          "edge_correlation": edge_correlation(output, reference),
                          "saturation": mean_saturation(output)}
        entry = {}
        for key in ("model", "baseline", "reinhard", "global_lab", "balanced_lab"):
            values = {n: r[key] for n, r in rows.items()}
            worst = min(values, key=values.get)
            entry[key] = {"mean": float(np.mean(list(values.values()))), "worst": values[worst], "worst_photo": worst}
        entry["edge_correlation"] = float(np.mean([r["edge_correlation"] for r in rows.values()]))
        entry["saturation"] = float(np.mean([r["saturation"] for r in rows.values()]))
        entry["photos"] = rows
        table[style] = entry
    return table


def passes(style: str, entry: dict) -> dict[str, bool]:
    """Each bar of the looks issue for one style's table entry."""
    checks = {"beats_baselines": entry["model"]["mean"] > entry["baseline"]["mean"]}
    if style != "cartoon":  # cartoon may stay under 0.75 (see the README), but must beat the baselines
        checks["closure"] = entry["model"]["mean"] >= BARS["closure"]
        checks["worst_photo"] = entry["model"]["worst"] >= BARS["worst"]
    if style == "sketch":
        checks["edge_correlation"] = entry["edge_correlation"] >= BARS["sketch_edge_correlation"]
        checks["saturation"] = entry["saturation"] <= SKETCH_SATURATION_BAR
    return checks


def markdown(table: dict) -> str:
    lines = ["| style | model closure (mean / worst photo) | best baseline | Reinhard | global Lab | "
             "global Lab, balanced copies | sketch: edge corr. / saturation | bars |", "|---|---|---|---|---|---|---|---|"]
    for style, e in table.items():
        sketch = f"{e['edge_correlation']:.2f} / {e['saturation']:.1f}" if style == "sketch" else \
            f"({e['edge_correlation']:.2f} / {e['saturation']:.1f})"
        checks = passes(style, e)
        failed = [k for k, ok in checks.items() if not ok]
        lines.append(f"| {style} | {e['model']['mean']:.2f} / {e['model']['worst']:.2f} ({e['model']['worst_photo']}) | "
                     f"{e['baseline']['mean']:.2f} / {e['baseline']['worst']:.2f} | {e['reinhard']['mean']:.2f} | "
                     f"{e['global_lab']['mean']:.2f} | {e['balanced_lab']['mean']:.2f} | {sketch} | {'pass' if not failed else 'FAIL: ' + ', '.join(failed)} |")
    return "\n".join(lines)


def contact_sheet(test: dict[str, np.ndarray], table: dict, height: int = 160, with_reference: bool = False,
                  label: bool = True) -> np.ndarray:
    """Rows: test photos; columns: the original, then each style's output (and its reference)."""
    import cv2
    styles = list(table)
    titles = ["original"] + [t for s in styles for t in ([s, f"{s} (filter)"] if with_reference else [s])]
    box_width = int(round(height * 1.5))
    rows = []
    for name, photo in test.items():
        cells = [photo]
        for s in styles:
            cells.append(table[s]["photos"][name]["output"])
            if with_reference:
                cells.append(table[s]["photos"][name]["reference"])
        row = []
        for c in cells:  # fitted whole into a fixed box (white margins): nothing is cut off
            scale = min(height / c.shape[0], box_width / c.shape[1])
            size = (int(round(c.shape[1] * scale)), int(round(c.shape[0] * scale)))
            scaled = cv2.resize(c, size, interpolation=cv2.INTER_AREA)
            top, left = (height - size[1]) // 2, (box_width - size[0]) // 2
            cell = np.full((height, box_width, 3), 255, np.uint8)
            cell[top:top + size[1], left:left + size[0]] = scaled
            row.append(np.pad(cell, ((2, 2), (2, 2), (0, 0)), constant_values=255))
        rows.append(np.hstack(row))
    sheet = np.vstack(rows)
    if label:
        cell_w = box_width + 4
        header = np.full((28, sheet.shape[1], 3), 255, np.uint8)
        for i, t in enumerate(titles):
            cv2.putText(header, t, (i * cell_w + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        sheet = np.vstack([header, sheet])
    return sheet
