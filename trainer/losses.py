"""Losses for unpaired look transfer. None needs a download.

* ``lsgan_*``: least-squares GAN (Mao et al. 2017): smoother gradients than the
  log loss, which matters for short runs.
* ``structure_loss``: content preservation without a pretrained network. It is
  1 - the contrast-structure term of SSIM (Wang et al. 2004) on luminance and each
  channel: it asks
  the output to keep the *local structure* of the input (edges, shapes, where things
  are), while leaving local brightness free -- a warm grade, a white paper
  background or flat cartoon regions change the mean, not the structure.
  With ``--vgg-weights`` the trainer adds a VGG perceptual term instead (see ``perceptual``).
* ``colour_moment_loss``: the RGB and saturation mean and spread of each style's outputs should be
  those of its look photos (a distribution statistic, so still unpaired). The
  discriminator sees patches; this sees the whole batch, and moves global tone
  (warmth, lifted blacks, grey paper) much faster than the adversarial term alone.
* ``sliced_wasserstein``: the distribution of small colour patches (3x3, at full and
  half resolution) of a style's outputs should be that of its look photos, compared by
  sliced Wasserstein distance (Heitz et al., CVPR 2021, on raw patches instead of VGG
  features so nothing is downloaded). Unpaired like the GAN, but a direct, low-variance
  signal for tone, grain and edge darkness, which a short CPU run needs.
* ``temporal_consistency``: the generator should follow small camera motions: for a small random
  affine warp W, G(W(x)) should equal W(G(x)) on pixels that stay inside the frame
  (Lai et al. 2018's warping error, with a known warp instead of optical flow).
* ``hue_loss``: the output's chroma (opponent colour axes, blurred) should point the same way
  as the input's: saturation may grow or vanish (a vivid cartoon, a grey sketch) and a grade may
  tint, but a red cat must not turn blue. Zero when aligned or when the output is grey.
* ``total_variation``: a little smoothness against high-frequency GAN artifacts.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def lsgan_d(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean())


def lsgan_g(fake_scores: torch.Tensor) -> torch.Tensor:
    return (fake_scores - 1).pow(2).mean()


def luminance(image: torch.Tensor) -> torch.Tensor:
    return (image * _LUMA.to(image)).sum(1, keepdim=True)


def _gaussian_window(sigma: float, device, dtype) -> torch.Tensor:
    radius = int(3 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).view(1, 1, 1, -1)


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur, one window per channel (``window``: (C, 1, 1, k))."""
    pad, groups = window.shape[-1] // 2, window.shape[0]
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), window, groups=groups)
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), window.transpose(-1, -2), groups=groups)


def structure_loss(output: torch.Tensor, content: torch.Tensor, sigma: float = 1.5,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """1 - mean SSIM contrast-structure term, on luminance and on each RGB channel; images in [-1, 1].

    Per channel as well as on luminance: with luminance alone, hue is free to drift. ``weights`` (B,)
    scales each sample's term (a look that removes texture, as a sketch's white paper does, needs less).
    """
    a = torch.cat([luminance(output.float()), output.float()], 1)
    b = torch.cat([luminance(content.float()), content.float()], 1)
    channels = a.shape[1]
    w = _gaussian_window(sigma, a.device, a.dtype).expand(channels, 1, 1, -1)
    mu_a, mu_b = _blur(a, w), _blur(b, w)
    var_a = _blur(a * a, w) - mu_a ** 2
    var_b = _blur(b * b, w) - mu_b ** 2
    cov = _blur(a * b, w) - mu_a * mu_b
    c2 = (0.03 * 2) ** 2  # SSIM's C2 for a dynamic range of 2 ([-1, 1])
    cs = (2 * cov + c2) / (var_a.clamp_min(0) + var_b.clamp_min(0) + c2)
    if weights is None:
        return 1 - cs.mean()
    return ((1 - cs.flatten(1).mean(1)) * weights.to(cs)).mean()


def colour_moment_loss(output: torch.Tensor, style_index: torch.Tensor, moments: torch.Tensor) -> torch.Tensor:
    """L1 between each present style's output mean/std of R, G, B and saturation (over its samples)
    and ``moments[style]`` ((2, 4) per style). Saturation (max - min of the channels) is a
    statistic of its own: per-channel spreads barely see a look that makes colours more vivid."""
    loss = output.new_zeros(())
    styles = style_index.unique()
    for s in styles:
        rgb = output[style_index == s].float().transpose(0, 1).reshape(3, -1)
        pixels = torch.cat([rgb, (rgb.max(0).values - rgb.min(0).values)[None]])
        target = moments[s].to(pixels)
        loss = loss + (pixels.mean(1) - target[0]).abs().mean() + (pixels.std(1) - target[1]).abs().mean()
    return loss / len(styles)


def moment_shift_loss(output: torch.Tensor, content: torch.Tensor, style_index: torch.Tensor,
                      look_moments: torch.Tensor, content_moments: torch.Tensor, affine: bool = False) -> torch.Tensor:
    """Each output crop's colour statistics should differ from its own input crop's as the look set's
    differ from the content set's: mean shifted by ``look_mean - content_mean`` and spread scaled by
    ``look_std / content_std`` (R, G, B and saturation).

    Unpaired (only set-level statistics of the two sides), but unlike matching each batch to the
    look set's absolute statistics it does not ask a crop of green grass to come out with the
    average colour of every look photo: with two crops a style a step, that pull washes every
    style toward one average tint.

    ``affine``: the crop's mean moves through the set-level map as a whole, ``look_mean + (mean -
    content_mean) * look_std / content_std``, instead of by the shift alone. A fade or a lift keeps the
    set's mean but brings dark crops up and bright crops down; a shift alone cannot ask for that.
    """
    def features(images):
        rgb = images.float().flatten(2)  # (B, 3, HW)
        return torch.cat([rgb, (rgb.max(1).values - rgb.min(1).values)[:, None]], 1)  # (B, 4, HW)

    out, src = features(output), features(content.detach())
    target_shift = (look_moments[:, 0] - content_moments[0])[style_index]  # (B, 4)
    target_scale = (look_moments[:, 1] / content_moments[1].clamp_min(1e-3))[style_index]
    if affine:
        target_mean = look_moments[:, 0][style_index] + (src.mean(2) - content_moments[0]) * target_scale
    else:
        target_mean = src.mean(2) + target_shift
    # Saturation scales rather than shifts: a sketch's is zero whatever the photo's, and a shift would
    # leave a vivid crop half its colour (muted and vivid looks scale it by their ratio too).
    saturation_ratio = (look_moments[:, 0, 3] / content_moments[0, 3].clamp_min(1e-3))[style_index]
    target_mean = torch.cat([target_mean[:, :3], src.mean(2)[:, 3:] * saturation_ratio[:, None]], 1)
    mean_error = (out.mean(2) - target_mean).abs()
    std_error = (out.std(2) - src.std(2) * target_scale).abs()
    return (mean_error + std_error).mean()


def _patches(image: torch.Tensor, count: int, generator: torch.Generator | None, window: int = 48) -> torch.Tensor:
    """``count`` random 3x3 RGB patches (count, 27) from a batch (B, 3, H, W).

    Drawn from one random ``window``-sized square of each image: unfolding whole 128 px crops
    cost most of a training step on the CPU, and the points are a sample either way."""
    h, w = image.shape[-2:]
    if h > window and w > window:
        y = int(torch.randint(0, h - window + 1, (1,), generator=generator))
        x = int(torch.randint(0, w - window + 1, (1,), generator=generator))
        image = image[..., y:y + window, x:x + window]
    cols = F.unfold(image.float(), 3).transpose(1, 2).reshape(-1, 27)
    pick = torch.randint(0, cols.shape[0], (count,), device=image.device, generator=generator)
    return cols[pick]


def sliced_wasserstein(fake: torch.Tensor, real: torch.Tensor, projections: int = 64, points: int = 2048) -> torch.Tensor:
    """Sliced Wasserstein-1 between 3x3 patch distributions of ``fake`` and ``real``, at two scales."""
    loss = fake.new_zeros((), dtype=torch.float32)
    for scale in (1, 2):
        f = fake if scale == 1 else F.avg_pool2d(fake, 2)
        r = real if scale == 1 else F.avg_pool2d(real, 2)
        pf, pr = _patches(f, points, None), _patches(r, points, None)
        directions = F.normalize(torch.randn(27, projections, device=fake.device), dim=0)
        sf, _ = (pf @ directions).sort(0)
        sr, _ = (pr @ directions).sort(0)
        loss = loss + (sf - sr).abs().mean()
    return loss


def _chroma(image: torch.Tensor) -> torch.Tensor:
    r, g, b = image.float().unbind(1)
    c = torch.stack([r - g, 0.5 * (r + g) - b], 1)
    return F.avg_pool2d(c, 4)  # blurred: hue of regions, not of pixel noise


def hue_loss(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """mean(|c_in| |c_out| - c_in . c_out): penalizes chroma turned away from the input's."""
    a, b = _chroma(output), _chroma(content)
    dot = (a * b).sum(1)
    return (a.norm(dim=1) * b.norm(dim=1) - dot).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + \
        (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


class Perceptual(torch.nn.Module):
    """VGG-16 relu2_2 + relu3_3 feature distance, with weights the user provides.

    Loaded with ``torch.load(weights_only=True)`` (no unpickling of code) from a
    torchvision-style VGG-16 ``features`` state dict; nothing is downloaded.
    """

    _LAYERS = (3, 8, 15)  # relu1_2, relu2_2, relu3_3 in torchvision's vgg16.features

    def __init__(self, weights_path: str):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256]
        layers: list[torch.nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(torch.nn.MaxPool2d(2))
            else:
                layers += [torch.nn.Conv2d(cin, v, 3, padding=1), torch.nn.ReLU()]
                cin = v
        self.features = torch.nn.Sequential(*layers)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("features."): v for k, v in state.items() if k.removeprefix("features.").split(".")[0].isdigit()}
        missing = self.features.load_state_dict(state, strict=False).missing_keys
        if missing:
            raise ValueError(f"--vgg-weights {weights_path}: missing VGG-16 layers {missing[:4]}...; "
                             "expected a torchvision vgg16 state dict")
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        x = torch.cat([output, content]).float()
        x = ((x + 1) / 2 - self.mean) / self.std
        loss = x.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._LAYERS:
                a, b = x.chunk(2)
                loss = loss + F.l1_loss(a, b)
        return loss


def random_small_affine(batch: int, generator: torch.Generator | None = None, max_shift_px: float = 3.0,
                        size: int = 128, max_degrees: float = 2.0, max_zoom: float = 0.03) -> torch.Tensor:
    """(B, 2, 3) affine_grid matrices for a small camera motion: shift, rotation, zoom."""
    u = torch.rand(batch, 4, generator=generator) * 2 - 1
    angle = u[:, 0] * max_degrees * torch.pi / 180
    scale = 1 + u[:, 1] * max_zoom
    shift = u[:, 2:] * (2 * max_shift_px / size)  # affine_grid works in [-1, 1] coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)


def warp(images: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images resampled by ``theta`` (bilinear), and the mask of pixels whose source is inside."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ones = torch.ones_like(images[:, :1])
    valid = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.999
    return warped, valid.to(images.dtype)


def temporal_consistency(generator_fn, content: torch.Tensor, fake: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Mean |G(W(x)) - W(G(x))| over valid pixels; ``generator_fn(x)`` runs G with the batch's styles."""
    warped_content, valid = warp(content, theta)
    warped_fake, _ = warp(fake, theta)
    diff = (generator_fn(warped_content) - warped_fake).abs() * valid
    return diff.sum() / (valid.sum() * fake.shape[1]).clamp(min=1)


QUANTILE_LEVELS = torch.linspace(0.02, 0.98, 25)
BAND_NAMES = ("luminance", "fine detail", "mid detail", "saturation", "red-green", "yellow-blue")


def image_bands(images: torch.Tensor) -> torch.Tensor:
    """(B, 6, H, W): luminance, its fine detail (L - blur_1) and mid detail (blur_1 - blur_3), saturation
    (max - min of R, G, B) and two opponent colour axes.

    A look's local part is a change of the detail bands' distributions: skin smoothing and flat cartoon
    regions shrink the small detail values, ink and pencil lines add large dark ones (Heeger and Bergen
    1995 match texture by subband histograms); its global part moves the others: paper whitens the
    luminance histogram, a sketch sends every saturation to zero, a warm grade shifts the opponent axes."""
    x = images.float()
    lum = luminance(x)
    fine = _blur(lum, _gaussian_window(1.0, lum.device, lum.dtype))
    mid = _blur(fine, _gaussian_window(3.0, lum.device, lum.dtype))
    saturation = x.max(1, keepdim=True).values - x.min(1, keepdim=True).values
    r, g, b = x[:, :1], x[:, 1:2], x[:, 2:]
    return torch.cat([lum, lum - fine, fine - mid, saturation, r - g, 0.5 * (r + g) - b], 1)


def band_quantiles(images: torch.Tensor, levels: torch.Tensor = QUANTILE_LEVELS) -> torch.Tensor:
    """(B, K, Q): each crop's quantiles of its bands (``image_bands``; differentiable through the sort)."""
    bands = image_bands(images).flatten(2).sort(2).values
    n = bands.shape[2]
    index = (levels.to(bands.device) * (n - 1)).round().long()
    return bands[..., index]


class BandShift:
    """Set-level maps of each band's values (``image_bands``) from the content set to each look set.

    Fitted once from crops of the two sides (different pictures: still unpaired) as a monotone
    quantile-to-quantile map per band (``fine`` levels). :meth:`loss` then asks each output crop's band
    quantiles to be its own input's mapped through that look's maps: the same idea as
    ``moment_shift_loss``, for whole histograms of detail rather than colour means and spreads, so
    a crop of grass is asked to become grass in the look, not the look set's average texture.
    """

    def __init__(self, content: torch.Tensor, looks: list[torch.Tensor], fine: int = 129):
        levels = torch.linspace(0.0, 1.0, fine)
        self.source = self._set_quantiles(content, levels)  # (K, fine)
        self.targets = torch.stack([self._set_quantiles(look, levels) for look in looks])  # (N, K, fine)
        # Each band's loss in units of the content set's spread of that band: fine detail is ~20x
        # smaller than luminance and would otherwise not count.
        spread = (self.source[:, int(0.9 * (fine - 1))] - self.source[:, int(0.1 * (fine - 1))]).clamp_min(1e-3)
        self.scale = 1.0 / spread

    @staticmethod
    def _set_quantiles(crops: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            values = image_bands(crops).transpose(0, 1).flatten(1)
            keep = torch.randperm(values.shape[1], generator=torch.Generator().manual_seed(0))[:1_000_000]
            return torch.quantile(values[:, keep], levels, dim=1).T.contiguous()

    def mapped(self, values: torch.Tensor, style_index: torch.Tensor) -> torch.Tensor:
        """``values`` (B, K, Q) of input crops -> (B, K, Q) through each crop's style's band maps."""
        source = self.source.to(values).expand(values.shape[0], -1, -1).contiguous()  # (B, K, fine)
        return _interp(values, source, self.targets.to(values)[style_index])

    def loss(self, output: torch.Tensor, content: torch.Tensor, style_index: torch.Tensor,
             weights: torch.Tensor | None = None) -> torch.Tensor:
        """Mean L1 between output and target band quantiles; ``weights`` (B,) scales each crop's term."""
        with torch.no_grad():
            target = self.mapped(band_quantiles(content), style_index)
        error = ((band_quantiles(output) - target).abs() * self.scale.to(output).view(1, -1, 1)).flatten(1).mean(1)
        return (error if weights is None else error * weights).mean()


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation (numpy.interp) along the last axis, batched over the leading ones:
    ``x`` (..., Q) at the sorted knots ``xp`` (..., F) with values ``fp`` (..., F), constant beyond the ends."""
    x = torch.maximum(torch.minimum(x, xp[..., -1:]), xp[..., :1])
    i = torch.searchsorted(xp, x).clamp(1, xp.shape[-1] - 1)
    x0, x1 = xp.gather(-1, i - 1), xp.gather(-1, i)
    f0, f1 = fp.gather(-1, i - 1), fp.gather(-1, i)
    t = ((x - x0) / (x1 - x0).clamp_min(1e-9)).clamp(0, 1)
    return f0 + t * (f1 - f0)
