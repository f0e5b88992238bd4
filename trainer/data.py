"""Unpaired crop sampler: content crops for the generator, look crops for the discriminator."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from trainer import looks, photos


def _to_tensor(batch: list[np.ndarray]) -> torch.Tensor:
    arr = np.stack(batch).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


class UnpairedCrops:
    """Random crops (random scale, flips) from in-memory photo pyramids.

    ``content``: list of RGB uint8 photos. ``style_photos``: per style, the list of RGB
    uint8 photos already in that look (different photos from ``content``); may be empty when only
    content crops are drawn (:meth:`sample_content`).
    """

    def __init__(self, content: list[np.ndarray], style_photos: list[list[np.ndarray]],
                 crop: int, seed: int, scales=(0.35, 0.5, 0.7, 1.0)):
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.content = self._pyramid(content, scales)
        self.styles = [self._pyramid(s, scales) for s in style_photos]

    def _pyramid(self, images: list[np.ndarray], scales) -> list[np.ndarray]:
        out = []
        for im in images:
            for s in scales:
                h, w = int(im.shape[0] * s), int(im.shape[1] * s)
                if min(h, w) >= self.crop:
                    out.append(cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) if s != 1 else im)
        if not out:
            raise ValueError(f"no photo is at least {self.crop}px on its short side")
        return out

    def _crop(self, pool: list[np.ndarray]) -> np.ndarray:
        im = pool[self.rng.integers(len(pool))]
        y = self.rng.integers(im.shape[0] - self.crop + 1)
        x = self.rng.integers(im.shape[1] - self.crop + 1)
        c = im[y:y + self.crop, x:x + self.crop]
        return c[:, ::-1] if self.rng.random() < 0.5 else c

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content (B,3,c,c), look reals (B,3,c,c), style index (B,)) in [-1, 1]."""
        idx = self.rng.integers(len(self.styles), size=batch)
        content = _to_tensor([self._crop(self.content) for _ in range(batch)])
        reals = _to_tensor([self._crop(self.styles[i]) for i in idx])
        return content, reals, torch.from_numpy(idx.astype(np.int64))

    def sample_content(self, batch: int) -> torch.Tensor:
        """(B, 3, c, c) content crops alone (distillation, a LUT teacher: no look photos to draw)."""
        return _to_tensor([self._crop(self.content) for _ in range(batch)])

    def sample_look(self, style: int, batch: int) -> torch.Tensor:
        """(B, 3, c, c) crops of one style's look photos, in [-1, 1]."""
        return _to_tensor([self._crop(self.styles[style]) for _ in range(batch)])

    def fixed_crops(self, count: int, seed: int, style: int | None = None) -> torch.Tensor:
        """(count, 3, c, c) crops of the content side (``style=None``) or of one look, drawn from their
        own generator so the training stream is unchanged (set-level statistics are fitted on these)."""
        pool = self.content if style is None else self.styles[style]
        saved, self.rng = self.rng, np.random.default_rng(seed)
        try:
            return _to_tensor([self._crop(pool) for _ in range(count)])
        finally:
            self.rng = saved

    def style_moments(self) -> torch.Tensor:
        """(N, 2, 4): per style, mean and std of R, G, B and saturation (max - min of R, G, B)
        over every look photo, in [-1, 1] units."""
        out = []
        for pool in self.styles:
            pixels = np.concatenate([im.reshape(-1, 3) for im in pool]).astype(np.float64) / 127.5 - 1
            features = np.concatenate([pixels, (pixels.max(1) - pixels.min(1))[:, None]], axis=1)
            out.append(np.stack([features.mean(0), features.std(0)]))
        return torch.tensor(np.stack(out), dtype=torch.float32)

    def content_moments(self) -> torch.Tensor:
        """(2, 4): mean and std of R, G, B and saturation over every content photo, in [-1, 1] units."""
        pixels = np.concatenate([im.reshape(-1, 3) for im in self.content]).astype(np.float64) / 127.5 - 1
        features = np.concatenate([pixels, (pixels.max(1) - pixels.min(1))[:, None]], axis=1)
        return torch.tensor(np.stack([features.mean(0), features.std(0)]), dtype=torch.float32)

    @staticmethod
    def moments_of(images: torch.Tensor) -> torch.Tensor:
        """(2, 4) mean and std of R, G, B and saturation of a (B, 3, H, W) batch in [-1, 1]."""
        pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).double()
        features = torch.cat([pixels, (pixels.max(1).values - pixels.min(1).values)[:, None]], dim=1)
        return torch.stack([features.mean(0), features.std(0)]).float()

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def colour_variants(image: np.ndarray, count: int, rng: np.random.Generator,
                    balance_white: bool = False, balance_contrast: bool = False) -> list[np.ndarray]:
    """``count`` re-coloured copies of a photo: random exposure and saturation targets,
    a small hue turn and a white-balance tweak.

    With a handful of photos per side, the two sides differ in tone by chance (one side's
    photos happen to be darker or more saturated) and a discriminator learns that difference
    as if it were the look. Every copy is re-exposed to a random mean brightness and
    re-saturated to a random mean saturation, drawn from the same ranges on both sides, so
    what separates the sides is the look. The look is applied after this, so its own grade
    stays intact. Hue turns stay small: with free hue, nothing anchors colour at all.

    ``balance_white``: also move each copy's mean colour most of the way to grey and then to a random
    cast drawn from the same range on both sides. Real photo sets carry casts of their content (the
    corpus's look-side photos average 9 levels redder than green and bluer than green, the content side
    not): without this, every style learns that cast as part of its look.

    ``balance_contrast``: also scale each copy's luminance about its mean to a random spread drawn from
    the same range on both sides, before the saturation target. Nine photos a side differ in contrast
    by chance as much as a fade or a lift changes it: measured on the corpus's test split, a global Lab
    transfer fitted between the two balanced sides reaches a closure of 0.52 on vintage and 0.30 on
    glow without this and 0.64 and 0.49 with it.
    """
    out = []
    base = image.astype(np.float32) / 255
    luma = float((base @ np.array([0.299, 0.587, 0.114], np.float32)).mean())
    for _ in range(count):
        rgb = np.clip(base * rng.uniform(0.9, 1.1, size=3).astype(np.float32), 0, 1)
        target = rng.uniform(0.3, 0.65)  # mean brightness, by a gamma curve
        rgb = rgb ** (np.log(target) / np.log(np.clip(luma, 0.02, 0.98)))
        if balance_contrast:
            grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
            mean, spread = float(grey.mean()), float(grey.std())
            rgb = np.clip(mean + (rgb - mean) * (rng.uniform(0.15, 0.27) / max(spread, 0.02)), 0, 1)
        hsv = cv2.cvtColor((rgb * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12)) % 180
        mean_sat = hsv[..., 1].mean()
        if mean_sat > 5:  # grey photos stay grey
            hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(40, 130) / mean_sat, 0, 255)
        variant = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
        if balance_white:
            x = variant.astype(np.float32)
            means = x.reshape(-1, 3).mean(0) + 1.0
            cast = 1 + rng.uniform(-0.08, 0.08, size=3).astype(np.float32)
            gains = (means.mean() / means) ** 0.85 * cast
            variant = np.clip(x * gains + 0.5, 0, 255).astype(np.uint8)
        out.append(variant)
    return out


def _at_long_sides(image: np.ndarray, long_sides: tuple[int, ...]) -> list[np.ndarray]:
    out = []
    for side in long_sides:
        scale = side / max(image.shape[:2])
        if scale < 1:
            out.append(cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                  interpolation=cv2.INTER_AREA))
    return out or [image]


def build_dataset(style_names: list[str], crop: int, seed: int, colour_copies: int = 6, data: str = "bundled",
                  long_sides: tuple[int, ...] = (1024, 768, 640, 512, 384),
                  balance_contrast: bool = False) -> UnpairedCrops:
    """``data="bundled"``: scikit-image's photos (unit tests, no download). ``data="corpus"``: the real
    photo corpus (``python -m trainer photos fetch``): content crops from its train-content photos, look
    crops from its train-look photos, never the same picture on both sides.

    Corpus photos are resized to several long sides *before* the look is applied, so each look
    is seen at its own pixel scale (its blur radii are in pixels) as it will be at run time, and
    crops of one size cover a whole face at one scale and skin texture at another.
    ``balance_contrast``: see :func:`colour_variants` (corpus only).
    """
    rng = np.random.default_rng(seed + 1)
    if data == "corpus":
        from trainer import corpus
        content_photos = list(corpus.load("train-content").values())
        look_photos = list(corpus.load("train-look").values())
        content = [level for im in content_photos for v in colour_variants(im, colour_copies, rng, balance_white=True,
                                                                            balance_contrast=balance_contrast)
                   for level in _at_long_sides(v, long_sides)]
        style_sources = [level for im in look_photos for v in colour_variants(im, colour_copies, rng, balance_white=True,
                                                                                 balance_contrast=balance_contrast)
                         for level in _at_long_sides(v, long_sides)]
        style_photos = [[looks.get_look(name)(im) for im in style_sources] for name in style_names]
        return UnpairedCrops(content, style_photos, crop, seed, scales=(1.0,))
    if data != "bundled":
        raise ValueError(f"data = {data!r}: expected 'bundled' (scikit-image's photos) or 'corpus'")
    content = [v for im in photos.load_set(photos.CONTENT) for v in colour_variants(im, colour_copies, rng)]
    style_sources = [v for im in photos.load_set(photos.STYLE) for v in colour_variants(im, colour_copies, rng)]
    style_photos = [[looks.get_look(name)(im) for im in style_sources] for name in style_names]
    return UnpairedCrops(content, style_photos, crop, seed)
