"""Multi-head PatchGAN discriminator.

A PatchGAN (Isola et al., pix2pix) judges overlapping patches (here about 70 px
receptive field) rather than the whole image, which is what a *look* is: local colour,
texture and edges. One trunk is shared by all styles and each style has its own output
channel (a multi-head discriminator), so adding styles adds almost no compute.
Spectral norm keeps the discriminator Lipschitz, which stabilizes the short CPU runs.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm


class PatchDiscriminator(nn.Module):
    def __init__(self, num_styles: int, width: int = 32):
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [spectral_norm(nn.Conv2d(cin, cout, 4, stride, 1)), nn.LeakyReLU(0.2, inplace=True)]

        self.trunk = nn.Sequential(*block(3, width, 2), *block(width, width * 2, 2),
                                   *block(width * 2, width * 4, 2), *block(width * 4, width * 4, 1))
        self.heads = spectral_norm(nn.Conv2d(width * 4, num_styles, 4, 1, 1))

    def forward(self, image: torch.Tensor, style_index: torch.Tensor) -> torch.Tensor:
        """Patch scores (B, 1, h, w) of each image under its own style's head."""
        scores = self.heads(self.trunk(image))
        return scores.gather(1, style_index.view(-1, 1, 1, 1).expand(-1, 1, *scores.shape[2:]))
