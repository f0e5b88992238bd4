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


# -- reading a creator's LUT --------------------------------------------------------------------------

MAX_SIZE_3D = 65  # the largest 3D lattice the spec allows (and editors write)
KEYWORDS = ("TITLE", "LUT_1D_SIZE", "LUT_3D_SIZE", "DOMAIN_MIN", "DOMAIN_MAX", "LUT_1D_INPUT_RANGE",
            "LUT_3D_INPUT_RANGE")


class LutError(ValueError):
    """A .cube file that cannot be used: malformed, too large, or with the wrong number of rows."""


def validate_cube(path: str | Path) -> tuple[str, int]:
    """("3D" or "1D", size) of a .cube file, or a :class:`LutError` naming the line that is wrong.

    The library reads the file afterwards; this pass exists for the messages (which line, what was
    expected), which a parser's exception does not give a creator."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise LutError(f"{path} does not exist; expected a .cube LUT file") from None
    except UnicodeDecodeError:
        raise LutError(f"{path} is not a text file; a .cube LUT is text (Adobe Cube LUT Specification 1.0)") from None
    kind = size = None
    rows, last = 0, 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        last = number
        word = line.split()[0]
        if word.upper() in KEYWORDS:
            if word.upper() in ("LUT_1D_SIZE", "LUT_3D_SIZE"):
                if rows:
                    raise LutError(f"{path}, line {number}: {word} after the data rows; it belongs in the header")
                try:
                    size = int(line.split()[1])
                except (IndexError, ValueError):
                    raise LutError(f"{path}, line {number}: {line!r}; expected {word} and a whole number") from None
                kind = "3D" if word.upper() == "LUT_3D_SIZE" else "1D"
                limit = MAX_SIZE_3D if kind == "3D" else 65536
                if not 2 <= size <= limit:
                    raise LutError(f"{path}, line {number}: {word} {size}; the spec allows 2..{limit}")
            continue
        values = line.split()
        try:
            floats = [float(v) for v in values]
        except ValueError:
            raise LutError(f"{path}, line {number}: {raw.strip()!r} is neither a keyword nor three numbers") from None
        if len(floats) != 3:
            raise LutError(f"{path}, line {number}: {len(floats)} numbers; a data row holds three (R G B)")
        rows += 1
    if kind is None:
        raise LutError(f"{path}: no LUT_3D_SIZE or LUT_1D_SIZE line; not a .cube LUT")
    expected = size ** 3 if kind == "3D" else size
    if rows != expected:
        raise LutError(f"{path}, line {last} (the last): {rows} data rows, but LUT_{kind}_SIZE {size} needs {expected}")
    return kind, size


class CubeLut:
    """A creator's .cube LUT (3D, or 1D: three curves), read by colour-science and applied by its trilinear
    interpolation; :meth:`torch_lattice` samples it for training."""

    def __init__(self, path: str | Path):
        self.kind, self.size = validate_cube(path)
        try:
            import colour
        except ImportError:
            raise LutError("reading .cube LUTs needs colour-science: `pip install colour-science` "
                           "(the trainer's `train` extra has it)") from None
        self.path = Path(path)
        self._lut = colour.read_LUT(str(self.path))
        self.title = getattr(self._lut, "name", "") or self.path.stem

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB through the LUT, as the spec (and colour-science) apply it."""
        out = self._lut.apply(rgb.astype(np.float64) / 255.0)
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)

    def torch_lattice(self, size: int = 33):
        """(1, 3, size, size, size) float32 tensor indexed [b, g, r], for ``torch.nn.functional.grid_sample``."""
        import torch
        table = self._lut.apply(lattice(size).astype(np.float64)).astype(np.float32)
        return torch.from_numpy(np.clip(table, 0, 1).reshape(size, size, size, 3)).permute(3, 0, 1, 2)[None]


def torch_apply(grid, x):
    """A lattice from :meth:`CubeLut.torch_lattice` applied trilinearly to (N, 3, H, W) images in [-1, 1]."""
    import torch.nn.functional as F
    n, _, h, w = x.shape
    points = x.permute(0, 2, 3, 1).reshape(1, n * h * w, 1, 1, 3)  # grid_sample's (x, y, z) = (r, g, b)
    out = F.grid_sample(grid, points.clamp(-1, 1), mode="bilinear", align_corners=True)
    return out.reshape(3, n, h, w).permute(1, 0, 2, 3) * 2 - 1
