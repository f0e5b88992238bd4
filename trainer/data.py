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
    uint8 photos already in that look (different photos from ``content``).
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

    def style_moments(self) -> torch.Tensor:
        """(N, 2, 3): per style, the RGB mean and std over every look photo, in [-1, 1] units."""
        out = []
        for pool in self.styles:
            pixels = np.concatenate([im.reshape(-1, 3) for im in pool]).astype(np.float64) / 127.5 - 1
            out.append(np.stack([pixels.mean(0), pixels.std(0)]))
        return torch.tensor(np.stack(out), dtype=torch.float32)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def build_dataset(style_names: list[str], crop: int, seed: int) -> UnpairedCrops:
    content = photos.load_set(photos.CONTENT)
    style_sources = photos.load_set(photos.STYLE)
    style_photos = [[looks.get_look(name)(im) for im in style_sources] for name in style_names]
    return UnpairedCrops(content, style_photos, crop, seed)
