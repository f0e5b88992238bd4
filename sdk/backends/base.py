"""The one small interface every backend implements."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Backend(ABC):
    """Runs the generator: ``run(image, style) -> stylized``.

    ``image``: (1, 3, H, W) float32 RGB in [-1, 1], H and W multiples of the package stride.
    ``style``: (1, N, 1, 1) float32 style weights. Returns (1, 3, H, W) float32 in [-1, 1]
    as a host NumPy array. ``run`` is safe to call from several threads at once.
    """

    name: str
    device: str
    precision: str

    @abstractmethod
    def run(self, image: np.ndarray, style: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:
        """Free sessions, engines and buffers; the backend is unusable afterwards."""

    def describe(self) -> str:
        return f"{self.name} on {self.device} ({self.precision})"
