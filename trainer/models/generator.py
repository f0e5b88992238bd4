"""The multi-style generator, built for deployment.

Reads top to bottom like the network it is::

    frame (1/1) -> stem conv s2 (1/2) -> down conv s2 (1/4)
      -> residual depthwise-separable blocks at 1/4          (most of the compute)
      -> nearest x2 + separable conv (1/2), + skip from stem  (residual add, no concat)
      -> conv to RGB at 1/2 -> nearest x2 (1/1)             (the local path: smoothing, bloom, lines)
      + a per-pixel colour head at 1/1: 1x1 convs of the pixel's RGB and of the features
        (projected at 1/2, upsampled), ReLU, 1x1 conv to RGB (the global path: grades, curves, grey)
      + input
      -> clip to [-1, 1]
    (``ink``: the RGB branch at 1/2 also subtracts a per-style strength times a fixed edge detector's map,
    luminance Sobel and a threshold: the cartoon's outlines)

(``heads_at_half``; packages trained before it upsample the features first and run the RGB conv
and the projection at 1/1.)

Why this shape (see ../shared/DESIGN.md, "The generator"):

* Only Conv (incl. depthwise), ReLU, Add, Mul, Resize and Clip reach the exported
  graph. BatchNorm is used while training and folded into the preceding conv by
  :meth:`Generator.deploy`; there are no per-frame statistics (InstanceNorm costs a
  reduction pass, quantizes badly and makes video flicker).
* Style conditioning is conditional-instance-norm's idea without the instance
  statistics (Dumoulin et al., "A Learned Representation for Artistic Style"): after
  each normalized conv, ``y * gamma(s) + beta(s)`` where ``gamma``/``beta`` come from
  the style vector ``s`` by a 1x1 conv (a tiny matrix product). The style vector is a
  graph input, so one ONNX serves every style and every mix.
* Nearest-neighbour upsampling followed by a conv instead of transposed convs, which
  leave checkerboard artifacts (Odena et al., Distill 2016).
* A look has a global part (white balance, curves, fade, saturation: what a 3D LUT holds) and a
  local part (skin smoothing, bloom, pencil lines, flat regions and ink). The colour head is a
  per-pixel MLP at full resolution, so a grade is exact at every pixel and cheap (352 MACs a
  pixel at 16 channels); it also sees the upsampled local features, so a local average can
  steer a per-pixel curve (a pencil line is a pixel darker than its neighbourhood). HDRNet
  (Gharbi et al. 2017) splits low-resolution analysis from a full-resolution apply the same way.
* Full resolution holds only what must be per pixel: the colour head (3 -> h -> 3) and the adds.
  A feature map there (16 channels at 720p is 59 MB) made the CPU frame memory-bound: the RGB
  conv, the context projection and their layout reorders were 70% of the pruned model's time.
* The output is ``clip(x + delta)``: at initialization the network is the identity, so
  training starts from the photo and moves it toward the look.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GeneratorConfig:
    num_styles: int = 3
    stem_channels: int = 16
    body_channels: int = 48
    num_blocks: int = 4
    # A per-style scale and shift of the output RGB (white balance, levels). Off in the shipped
    # model; `trainer add-style` turns it on with zeros for the existing styles (exactly the identity).
    output_affine: bool = False
    # Hidden channels of the per-pixel colour head (0: none, the model before the looks issue).
    colour_channels: int = 0
    # The RGB conv and the colour head's context projection run at 1/2 resolution, and only their
    # outputs (3 and colour_channels channels) are upsampled: full resolution then carries no
    # feature map at all. The context projection is a 1x1 conv, which commutes with nearest
    # upsampling (exact); the RGB conv sees the same features at half the resolution. False keeps
    # the packages trained before it computing what they were trained to.
    heads_at_half: bool = False
    # An ink path (the cartoon's outlines): the output darkened where the photo's smoothed luminance
    # gradient is strong, by a per-style strength; see Generator.ink_map. Off: the graph has no such node.
    ink: bool = False

    @property
    def stride(self) -> int:
        """Input H and W must be multiples of this (two stride-2 stages)."""
        return 4

    def to_dict(self) -> dict:
        return asdict(self)


class StyleAffine(nn.Module):
    """Per-style scale and shift, ``y * (1 + gamma(s)) + beta(s)``, with s of shape (B, N, 1, 1)."""

    def __init__(self, num_styles: int, channels: int):
        super().__init__()
        self.to_gamma = nn.Conv2d(num_styles, channels, 1)
        self.to_beta = nn.Conv2d(num_styles, channels, 1)
        for conv in (self.to_gamma, self.to_beta):  # start as the identity for every style
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return x * (1 + self.to_gamma(style)) + self.to_beta(style)


class ConvNormAffine(nn.Module):
    """conv -> BatchNorm (folded at deploy) -> style affine -> optional ReLU."""

    def __init__(self, num_styles: int, cin: int, cout: int, kernel: int, stride: int = 1,
                 groups: int = 1, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.norm: nn.Module = nn.BatchNorm2d(cout)
        self.affine = StyleAffine(num_styles, cout)
        self.relu = relu

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = self.affine(self.norm(self.conv(x)), style)
        return F.relu(y) if self.relu else y

    def fold_norm(self) -> None:
        """Fold the BatchNorm's running statistics into the conv (exact in eval mode)."""
        if isinstance(self.norm, nn.Identity):
            return
        bn = self.norm
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        folded = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size,
                           self.conv.stride, self.conv.padding, groups=self.conv.groups, bias=True)
        folded.weight.data = self.conv.weight.detach() * scale[:, None, None, None]
        folded.bias.data = bn.bias.detach() - bn.running_mean * scale
        self.conv, self.norm = folded, nn.Identity()


class SeparableBlock(nn.Module):
    """Residual block: depthwise 3x3 -> pointwise 1x1 (ReLU) -> depthwise 3x3 -> pointwise 1x1, + skip."""

    def __init__(self, num_styles: int, channels: int):
        super().__init__()
        self.dw1 = ConvNormAffine(num_styles, channels, channels, 3, groups=channels, relu=False)
        self.pw1 = ConvNormAffine(num_styles, channels, channels, 1)
        self.dw2 = ConvNormAffine(num_styles, channels, channels, 3, groups=channels, relu=False)
        self.pw2 = ConvNormAffine(num_styles, channels, channels, 1, relu=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = self.pw1(self.dw1(x, style), style)
        y = self.pw2(self.dw2(y, style), style)
        return x + y


class Generator(nn.Module):
    """Input: ``image`` (B, 3, H, W) RGB in [-1, 1], H and W multiples of 4; ``style``
    (B, N, 1, 1), a one-hot or a mix of the N styles. Output: (B, 3, H, W) in [-1, 1]."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        self.config = config
        n, c0, c1 = config.num_styles, config.stem_channels, config.body_channels
        self.stem = ConvNormAffine(n, 3, c0, 3, stride=2)
        self.down = ConvNormAffine(n, c0, c1, 3, stride=2)
        self.body = nn.ModuleList(SeparableBlock(n, c1) for _ in range(config.num_blocks))
        self.up_dw = ConvNormAffine(n, c1, c1, 3, groups=c1, relu=False)
        self.up_pw = ConvNormAffine(n, c1, c0, 1)
        self.to_rgb = nn.Conv2d(c0, 3, 3, padding=1)
        # Small last layer: the network starts close to the identity (output = input).
        nn.init.normal_(self.to_rgb.weight, std=1e-3)
        nn.init.zeros_(self.to_rgb.bias)
        self.out_affine = StyleAffine(n, 3) if config.output_affine else None
        h = config.colour_channels
        if h:
            self.colour_pixel = nn.Conv2d(3, h, 1)
            self.colour_context = nn.Conv2d(c0, h, 1, bias=False)
            self.colour_affine = StyleAffine(n, h)
            self.colour_out = nn.Conv2d(h, 3, 1)
            nn.init.normal_(self.colour_out.weight, std=1e-3)  # starts as the identity, as to_rgb does
            nn.init.zeros_(self.colour_out.bias)
        if config.ink:
            if not config.heads_at_half:
                raise ValueError("the ink path joins the RGB branch at 1/2 resolution: it needs heads_at_half")
            with torch.random.fork_rng():  # the other weights start as they would without the path
                self._build_ink(n)

    # The ink's edge detector runs at 1/2 resolution and its ink joins the RGB branch there, before that branch's
    # upsampling: no full-resolution op is added (the same detector at full resolution, applied there, about
    # doubled a 720p frame on a CPU; at 1/2 resolution and applied at full, 10 ms). One stride-2 conv computes the
    # full-resolution detector at every other pixel: luminance, a 3x3 Gaussian (sigma 1) and Sobel composed into
    # a 5x5 kernel; then |gx| + |gy| from four ReLUs and a threshold. Its strength is learned per style; where
    # lines fall is fixed, as a cartoonist's outlines follow edges.
    INK_GRADIENT_SCALE = 0.75 / 120  # |gx| + |gy| times 0.75 approximates the L2 norm; 0-255 units
    INK_THRESHOLD = 0.5  # ink from a gradient of 60 levels, full from 180

    def _build_ink(self, num_styles: int) -> None:
        gauss = torch.tensor([0.27406862, 0.45186276, 0.27406862])
        sobel = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]])
        blur = F.pad((gauss[:, None] * gauss[None, :]).view(1, 1, 3, 3), (1, 1, 1, 1))
        # conv2d correlates: the composed kernel is the blur correlated with the (flipped) Sobel.
        gx = F.conv2d(blur, sobel.flip(0, 1).view(1, 1, 3, 3), padding=2)[0, 0, 1:6, 1:6]
        gy = F.conv2d(blur, sobel.t().flip(0, 1).view(1, 1, 3, 3), padding=2)[0, 0, 1:6, 1:6]
        luma = torch.tensor([0.299, 0.587, 0.114]) * 127.5  # [-1, 1] -> 0-255 steps (the offset has no gradient)
        gradients = torch.stack([gx, -gx, gy, -gy])
        # Channels 4-6: the frame blurred (the same Gaussian) plus 1, what the ink darkens (see forward).
        self.ink_edges = nn.Conv2d(3, 7, 5, stride=2, padding=2)
        self.ink_level = nn.Conv2d(7, 1, 1)
        self.ink_base = nn.Conv2d(7, 3, 1)
        # Zero padding reads the frame's border as an edge: the mask is 0 on the outer ring (1/2 resolution).
        self.ink_ones = nn.Conv2d(7, 1, 1)
        self.ink_border = nn.Conv2d(1, 1, 3, padding=1)
        # A 3x3 binomial blur of the map: the stride-2 samples of a thin line come and go as the camera moves,
        # which took the cartoon's warping error from 2.7 to 6.7 steps; smoothed, 4.1 (no loss of closure).
        self.ink_smooth = nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            binomial = torch.tensor([0.25, 0.5, 0.25])
            self.ink_smooth.weight.copy_((binomial[:, None] * binomial[None, :]).view(1, 1, 3, 3))
            self.ink_smooth.bias.zero_()
            self.ink_edges.weight.zero_()
            self.ink_edges.weight[:4] = gradients[:, None] * luma.view(1, 3, 1, 1)
            for c in range(3):
                self.ink_edges.weight[4 + c, c] = blur[0, 0]
            self.ink_edges.bias.copy_(torch.tensor([0., 0., 0., 0., 1., 1., 1.]))
            self.ink_level.weight.zero_()
            self.ink_level.weight[0, :4] = self.INK_GRADIENT_SCALE
            self.ink_level.bias.fill_(-self.INK_THRESHOLD)
            self.ink_base.weight.copy_(torch.eye(7)[4:].view(3, 7, 1, 1))
            self.ink_base.bias.zero_()
            self.ink_ones.weight.zero_()
            self.ink_ones.bias.fill_(1.0)
            self.ink_border.weight.fill_(1.0)
            self.ink_border.bias.fill_(-8.0)
        for name in INK_FIXED:
            getattr(self, name).requires_grad_(False)
        self.ink_strength = nn.Conv2d(num_styles, 1, 1, bias=False)
        nn.init.zeros_(self.ink_strength.weight)

    def ink_map(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """At 1/2 resolution: (B, 1) how much ink each 2x2 block takes at full strength, in [0, 1], and (B, 3) the
        frame blurred, plus 1 (in [0, 2])."""
        edges = F.relu(self.ink_edges(image))
        ink = torch.clamp(self.ink_level(edges), 0.0, 1.0)
        ink = self.ink_smooth(ink * torch.clamp(self.ink_border(self.ink_ones(edges)), 0.0, 1.0))
        return ink, self.ink_base(edges)

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        half = self.stem(image, style)
        x = self.down(half, style)
        for block in self.body:
            x = block(x, style)
        x = _up(x)
        x = self.up_pw(self.up_dw(x, style), style) + half
        if self.config.heads_at_half:
            rgb = self.to_rgb(x)
            if self.config.ink:
                # Darkening toward black, as (y + 1) (1 - k) - 1 = y - k (y + 1) would, with y + 1 taken at 1/2
                # resolution (the blurred frame plus this branch): no full-resolution op.
                ink, base = self.ink_map(image)
                rgb = rgb + (base + rgb) * (ink * (self.ink_strength(style) * -1.0))
            y = image + _up(rgb)
        else:
            x = _up(x)
            y = image + self.to_rgb(x)
        if self.config.colour_channels:
            # colour_affine(pixel + context), written as one Conv -> Mul (-> Add) chain per conv: once the style
            # is a constant, ONNX Runtime fuses each scale and shift into its conv (a Mul after the Add it cannot).
            scale = 1 + self.colour_affine.to_gamma(style)
            hidden = self.colour_pixel(image) * scale + self.colour_affine.to_beta(style)
            context = self.colour_context(x) * scale
            hidden = F.relu(hidden + (_up(context) if self.config.heads_at_half else context))
            y = y + self.colour_out(hidden)
        if self.out_affine is not None:
            y = self.out_affine(y, style)
        return torch.clamp(y, -1.0, 1.0)

    def deploy(self) -> "Generator":
        """An eval-mode copy with every BatchNorm folded into its conv: what is exported."""
        model = copy.deepcopy(self).eval()
        for module in model.modules():
            if isinstance(module, ConvNormAffine):
                module.fold_norm()
        return model


# The ink path's fixed edge detector: never trained, pruned or quantized (its strength, ink_strength, trains).
INK_FIXED = ("ink_edges", "ink_level", "ink_base", "ink_ones", "ink_border", "ink_smooth")


def is_style_column_weight(key: str) -> bool:
    """A weight whose column k is style k's: the per-style scales and shifts, and the ink's strength."""
    return key.endswith(("to_gamma.weight", "to_beta.weight")) or key == "ink_strength.weight"


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter but the ink path's fixed edge detector."""
    return [p for name, p in model.named_parameters() if not name.startswith(INK_FIXED)]


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def style_vector(index_or_weights, num_styles: int, batch: int = 1) -> torch.Tensor:
    """(batch, N, 1, 1) style input from a style index, or a length-N weight sequence."""
    if isinstance(index_or_weights, int):
        vec = torch.zeros(num_styles)
        vec[index_or_weights] = 1.0
    else:
        vec = torch.as_tensor(index_or_weights, dtype=torch.float32)
    return vec.view(1, num_styles, 1, 1).expand(batch, -1, -1, -1).contiguous()


def count_macs(model: Generator, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at H x W (convs only; elementwise ops are noise)."""
    macs = 0

    def hook(module: nn.Conv2d, _inputs, output):
        nonlocal macs
        if module.in_channels == model.config.num_styles and module.kernel_size == (1, 1) \
                and output.shape[-1] == 1:
            return  # the style -> gamma/beta 1x1 convs run on a 1x1 map: not per pixel
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, height, width), style_vector(0, model.config.num_styles))
    finally:
        for h in handles:
            h.remove()
    return macs


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
