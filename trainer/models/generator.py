"""The multi-style generator, built for deployment.

Reads top to bottom like the network it is::

    frame (1/1) -> stem conv s2 (1/2) -> down conv s2 (1/4)
      -> residual depthwise-separable blocks at 1/4          (most of the compute)
      -> nearest x2 + separable conv (1/2), + skip from stem  (residual add, no concat)
      -> conv to RGB at 1/2 -> nearest x2 (1/1)             (the local path: smoothing, bloom, lines)
      + a per-pixel colour head at 1/1: 1x1 convs of the pixel's RGB and of the features
        (projected at 1/2, upsampled), ReLU, 1x1 conv to RGB (the global path: grades, curves, grey)
      + input, clip to [-1, 1]

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

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        half = self.stem(image, style)
        x = self.down(half, style)
        for block in self.body:
            x = block(x, style)
        x = _up(x)
        x = self.up_pw(self.up_dw(x, style), style) + half
        if self.config.heads_at_half:
            y = image + _up(self.to_rgb(x))
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
