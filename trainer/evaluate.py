"""Distance to each look on held-out photos: does the model move photos toward its look?

For a style whose look has a reference filter, PSNR(model(photo), filter(photo)) is
compared with PSNR(photo, filter(photo)); the gain in dB is how far the model moved
the photo toward the look. Photos come from ``trainer.photos.HELD_OUT``: seen neither
as content nor as look targets during training.
"""
from __future__ import annotations

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
