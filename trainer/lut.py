"""A style's colour mapping as a 3D LUT (.cube), for editors, ffmpeg, OBS and phones.

The generator is a local network, so a LUT holds only its global part: what it does to a region of one
flat colour. :func:`bake` shows the model every colour of the lattice as a flat patch wider than the
generator's receptive field (radius about 38 px: 77 px at full resolution) and reads the patch's
centre. :func:`lut_closure` says how much of the model's look on real photos the LUT carries; a look
that is mostly local (pencil lines, ink, smoothing) scores low, and ``export-lut`` warns.

The file follows Adobe's Cube LUT Specification 1.0: ``TITLE``, ``LUT_3D_SIZE``, ``DOMAIN_MIN``,
``DOMAIN_MAX``, then one ``R G B`` line per lattice point with red changing fastest.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

PATCH = 96  # > 2 x the receptive-field radius: a patch's centre sees only its own colour
PATCHES_PER_SIDE = 12  # 1152 px mosaics: within the working resolution's long side (1280)


def lattice(size: int) -> np.ndarray:
    """(size**3, 3) RGB values in 0..1, red fastest (the .cube order)."""
    steps = np.linspace(0.0, 1.0, size, dtype=np.float32)
    b, g, r = np.meshgrid(steps, steps, steps, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)


def bake(stylizer, style, size: int = 33) -> np.ndarray:
    """The model's output for every lattice colour: (size**3, 3) float32 in 0..1, red fastest."""
    colours = lattice(size)
    per_mosaic = PATCHES_PER_SIDE ** 2
    side = PATCH * PATCHES_PER_SIDE
    centre = PATCH // 2
    out = np.empty_like(colours)
    for start in range(0, len(colours), per_mosaic):
        chunk = colours[start:start + per_mosaic]
        cells = np.zeros((per_mosaic, 3), np.float32)
        cells[:len(chunk)] = chunk
        values = np.round(cells * 255).astype(np.uint8).reshape(PATCHES_PER_SIDE, PATCHES_PER_SIDE, 1, 1, 3)
        mosaic = np.ascontiguousarray(np.broadcast_to(values, (PATCHES_PER_SIDE, PATCHES_PER_SIDE, PATCH, PATCH, 3))
                                      .transpose(0, 2, 1, 3, 4).reshape(side, side, 3))
        styled = stylizer(mosaic, style=style)
        centres = styled[centre::PATCH, centre::PATCH].reshape(per_mosaic, 3)
        out[start:start + len(chunk)] = centres[:len(chunk)].astype(np.float32) / 255.0
    return out


def apply(lut: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of a (size**3, 3) red-fastest LUT over an HxWx3 uint8 RGB image."""
    size = round(len(lut) ** (1 / 3))
    table = lut.reshape(size, size, size, 3)  # [b, g, r]
    x = rgb.astype(np.float32) / 255.0 * (size - 1)
    low = np.minimum(np.floor(x).astype(np.int64), size - 2)
    frac = x - low
    r0, g0, b0 = low[..., 0], low[..., 1], low[..., 2]
    fr, fg, fb = frac[..., 0:1], frac[..., 1:2], frac[..., 2:3]
    out = np.zeros(rgb.shape, np.float32)
    for db, wb in ((0, 1 - fb), (1, fb)):
        for dg, wg in ((0, 1 - fg), (1, fg)):
            for dr, wr in ((0, 1 - fr), (1, fr)):
                out += wb * wg * wr * table[b0 + db, g0 + dg, r0 + dr]
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def write_cube(path: str | Path, lut: np.ndarray, title: str) -> Path:
    size = round(len(lut) ** (1 / 3))
    if size ** 3 != len(lut):
        raise ValueError(f"a 3D LUT has size**3 entries; got {len(lut)}")
    lines = [f'TITLE "{title}"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in lut]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)  # whole or not at all
    return path


def lut_closure(lut: np.ndarray, stylize, photos: dict[str, np.ndarray]) -> dict[str, float]:
    """Per photo, ``1 - MAE(LUT(photo), model(photo)) / MAE(photo, model(photo))``: 1 when the LUT is the model."""
    from trainer.closure import closure

    return {name: closure(apply(lut, rgb), rgb, stylize(rgb)) for name, rgb in photos.items()}
