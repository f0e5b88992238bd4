"""GAN training loop: unpaired content photos -> N looks, one multi-style generator.

Checkpoints (``RUN/checkpoint.pt``) hold both networks, both optimizers, the data
sampler's and torch's RNG state and the config, written atomically (temp file, fsync,
rename) so a kill never leaves half a checkpoint; ``--resume`` continues from the
iteration after the last checkpoint and, with the same seed, follows the same
loss curve.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from trainer import losses
from trainer.data import UnpairedCrops, build_dataset
from trainer.distributed import Distributed
from trainer.models.discriminator import PatchDiscriminator
from trainer.models.generator import Generator, GeneratorConfig, style_vector, trainable_parameters


@dataclass
class TrainConfig:
    styles: list[str]
    model: GeneratorConfig
    seed: int = 0
    iterations: int = 3000
    batch: int = 8
    crop: int = 128
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    adv_weight: float = 1.0
    structure_weight: float = 2.0
    tv_weight: float = 0.0
    identity_weight: float = 0.0
    moment_weight: float = 2.0
    # "absolute": each batch's statistics toward the look set's; "shift": each crop's statistics moved
    # from its input's as the look set's differ from the content set's (losses.moment_shift_loss);
    # "affine": each crop's mean through the set-level scale and shift as well.
    moment_mode: str = "absolute"
    swd_weight: float = 0.0
    # losses.BandShift: each crop's histograms of luminance, detail, saturation and opponent colour moved as
    # the look set's differ from the content set's (detail shrunk for smooth and flat regions, lines added).
    band_weight: float = 0.0
    band_from: int = 0
    band_style_weights: dict = field(default_factory=dict)  # style -> factor of band_weight (default 1)
    adv_style_weights: dict = field(default_factory=dict)  # style -> factor of adv_weight (default 1)
    # A package whose FP32 weights start the generator (its deploy structure: BatchNorm folded), to
    # continue a shipped model with a further recipe stage; empty: a fresh generator.
    init_package: str = ""
    # The ink path (model.ink): held at zero until iteration ink_from, then started at ink_init's strength
    # for the named styles (the others from zero) and trained. The unpaired terms keep an ink they are given
    # but do not find one from zero (docs/looks.md); the cartoon's start was chosen on the validation split.
    ink_from: int = 0
    ink_init: dict = field(default_factory=dict)
    colour_copies: int = 6
    # Each colour copy's contrast drawn at random too, the same on both sides (trainer.data.colour_variants).
    balance_contrast: bool = False
    perceptual_weight: float = 1.0
    temporal_weight: float = 0.0
    temporal_batch: int = 0  # crops a step that the temporal term sees (0: the whole batch)
    ema_decay: float = 0.995
    hue_weight: float = 5.0
    ema_warmup: bool = True
    d_downsample: int = 1
    # Scales (downsampling factors) at which patch discriminators judge: several give a multi-scale
    # critic (pencil lines and ink at 1, tone and regions at 2 or 4). Empty: one, at d_downsample.
    d_scales: list = field(default_factory=list)
    data: str = "bundled"
    # From iteration relax_structure_from on, each named style's structure term is scaled by its factor:
    # white paper and flat cartoon regions remove the very texture the term keeps. The shipped run
    # learns every look's tone first with the full term, then lets those two drop texture.
    relax_structure_from: int = 0
    relaxed_structure: dict = field(default_factory=dict)
    sample_every: int = 500
    checkpoint_every: int = 250
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: str | Path, overrides: dict | None = None) -> "TrainConfig":
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        return cls.from_dict(raw, overrides)

    @classmethod
    def from_dict(cls, raw: dict, overrides: dict | None = None) -> "TrainConfig":
        model = dict(raw.get("model", {}))
        train = dict(raw.get("train", {}))
        train.update(overrides or {})
        styles = list(model.pop("styles"))
        unknown = set(train) - set(cls.__dataclass_fields__)
        for key in ("relaxed_structure", "band_style_weights", "adv_style_weights", "ink_init"):
            unknown_styles = set(train.get(key, {})) - set(styles)
            if unknown_styles:
                raise ValueError(f"{key} names {sorted(unknown_styles)}, which are not in [model] styles")
        if unknown:
            raise ValueError(f"unknown [train] keys {sorted(unknown)}; known: "
                             f"{sorted(k for k in cls.__dataclass_fields__ if k not in ('styles', 'model', 'raw'))}")
        merged = {"model": {**raw.get("model", {})}, "train": train}
        return cls(styles=styles, model=GeneratorConfig(num_styles=len(styles), **model), raw=merged, **train)


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict:
    # weights_only: a checkpoint is data, never code.
    return torch.load(path, map_location="cpu", weights_only=True)


class DivergenceError(RuntimeError):
    pass


def _sample_grid(generator: Generator, content: torch.Tensor, num_styles: int) -> np.ndarray:
    """Rows: input, then one row per style; columns: the first 4 content crops."""
    with torch.no_grad():
        rows = [content]
        for s in range(num_styles):
            rows.append(generator(content, style_vector(s, num_styles, content.shape[0]).to(content)))
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # (3, rows*h, cols*w)
    return ((grid.permute(1, 2, 0).float().cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, vgg_weights: str | None = None,
          device: str | None = None, progress: bool = True, dataset: UnpairedCrops | None = None,
          stop_after: int | None = None) -> dict:
    """Train; return ``{"iteration", "losses": [per-iteration dicts]}``.

    ``stop_after`` ends the run early at that iteration (used by tests to simulate a kill).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dist = Distributed(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        return _train(config, run_dir, resume, vgg_weights, dist, progress, dataset, stop_after)
    finally:
        dist.close()


def _train(config: TrainConfig, run_dir: Path, resume: bool, vgg_weights: str | None, dist: Distributed,
           progress: bool, dataset: UnpairedCrops | None, stop_after: int | None) -> dict:
    device = dist.device
    torch.manual_seed(config.seed)  # the same on every rank: identical initial weights
    np.random.seed(config.seed)
    torch.use_deterministic_algorithms(device == "cpu", warn_only=True)

    data = dataset or build_dataset(config.styles, config.crop, config.seed + dist.rank, config.colour_copies,
                                    data=config.data, balance_contrast=config.balance_contrast)
    if config.init_package:
        from sdk.package import load_package
        from trainer.export import generator_from_package
        package = load_package(config.init_package)
        if list(package.style_names) != list(config.styles):
            raise ValueError(f"init_package {config.init_package} has styles {package.style_names}; the config has "
                             f"{config.styles}: they must be the same, in order")
        generator = generator_from_package(package).train().to(device)
    else:
        generator = Generator(config.model).to(device)
    if config.ink_init and not config.model.ink:
        raise ValueError("ink_init needs the ink path: set ink = true in [model]")
    d_scales = [int(s) for s in config.d_scales] or [config.d_downsample]
    discriminator = (PatchDiscriminator(config.model.num_styles) if len(d_scales) == 1 else
                     torch.nn.ModuleList(PatchDiscriminator(config.model.num_styles) for _ in d_scales)).to(device)
    # An exponential moving average of the generator's weights: GAN training oscillates, the
    # average does not (Karras et al. 2018, Yazici et al. 2019). Samples and export use it.
    ema = copy.deepcopy(generator)
    ema.requires_grad_(False)
    opt_g = torch.optim.Adam(trainable_parameters(generator), lr=config.lr_g, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=(0.5, 0.99))
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    moments = data.style_moments().to(device)
    content_moments = data.content_moments().to(device) if config.moment_mode in ("shift", "affine") else None
    if config.moment_mode not in ("absolute", "shift", "affine"):
        raise ValueError(f"moment_mode = {config.moment_mode!r}: expected 'absolute', 'shift' or 'affine'")
    band_shift = None
    if config.band_weight:
        band_factors = torch.tensor([float(config.band_style_weights.get(name, 1.0)) for name in config.styles],
                                    device=device)
        band_shift = losses.BandShift(data.fixed_crops(256, config.seed + 7),
                                      [data.fixed_crops(256, config.seed + 8 + s, style=s)
                                       for s in range(config.model.num_styles)])
    perceptual = losses.Perceptual(vgg_weights).to(device) if vgg_weights else None

    def judge(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        # With d_downsample > 1 the discriminator sees a blurred, smaller image: it judges tone,
        # colour and shapes over a wider field rather than pixel-level texture, which a tiny
        # generator cannot match and answers with spurious contrast.
        if len(d_scales) == 1:
            scaled = torch.nn.functional.avg_pool2d(images, d_scales[0]) if d_scales[0] > 1 else images
            return discriminator(scaled, idx)
        # Multi-scale: each critic's patch scores, flattened and joined (the LSGAN terms average them).
        scores = []
        for critic, scale in zip(discriminator, d_scales):
            scaled = torch.nn.functional.avg_pool2d(images, scale) if scale > 1 else images
            scores.append(critic(scaled, idx).flatten(1))
        return torch.cat(scores, 1)


    start, history = 0, []
    ckpt_path = run_dir / "checkpoint.pt"
    for stale in run_dir.glob(ckpt_path.name + "*.tmp"):
        stale.unlink()  # a temp file left by a process killed mid-save; checkpoint.pt itself is whole
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}; start without --resume")
        ckpt = load_checkpoint(ckpt_path)
        generator.load_state_dict(ckpt["generator"])
        ema.load_state_dict(ckpt["generator_ema"])
        discriminator.load_state_dict(ckpt["discriminator"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        if dist.main:  # other ranks keep their own crop streams (a multi-process resume is not bit-exact)
            data.load_state(json.loads(ckpt["data_rng"]))
            torch.set_rng_state(ckpt["torch_rng"])
        start, history = ckpt["iteration"], json.loads(ckpt["history"])

    fixed_content = data.sample(4)[0].to(device) if start == 0 else torch.from_numpy(
        np.load(run_dir / "fixed_content.npy")).to(device)
    if start == 0 and dist.main:
        np.save(run_dir / "fixed_content.npy", fixed_content.cpu().numpy())
    if dist.main:
        (run_dir / "config.json").write_text(json.dumps(config.raw, indent=2))

    bar = None
    if progress and dist.main:
        from tqdm import tqdm
        bar = tqdm(total=config.iterations, initial=start, desc="train", unit="it", dynamic_ncols=True)
    end = config.iterations if stop_after is None else min(stop_after, config.iterations)
    generator.train()
    discriminator.train()
    t0 = time.time()
    for it in range(start, end):
        if config.model.ink and it == config.ink_from:
            with torch.no_grad():
                for net in (generator, ema):
                    for name, strength in config.ink_init.items():
                        net.ink_strength.weight[0, config.styles.index(name)] = float(strength)
        content, reals, idx = (t.to(device) for t in data.sample(config.batch))
        style = torch.nn.functional.one_hot(idx, config.model.num_styles).float().view(-1, config.model.num_styles, 1, 1)
        with torch.autocast("cuda", enabled=use_amp):
            fake = generator(content, style)
            d_loss = losses.lsgan_d(judge(reals, idx), judge(fake.detach(), idx))
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(d_loss).backward()
        dist.average_gradients(discriminator)
        scaler.step(opt_d)

        with torch.autocast("cuda", enabled=use_amp):
            if config.adv_style_weights:
                adv_factors = torch.tensor([float(config.adv_style_weights.get(name, 1.0)) for name in config.styles],
                                           device=fake.device)
                adv = ((judge(fake, idx) - 1).pow(2).flatten(1).mean(1) * adv_factors[idx]).mean()
            else:
                adv = losses.lsgan_g(judge(fake, idx))
            if config.relaxed_structure and it >= config.relax_structure_from:
                factors = torch.tensor([float(config.relaxed_structure.get(name, 1.0)) for name in config.styles],
                                       device=fake.device)
                structure = losses.structure_loss(fake, content, weights=factors[idx])
            else:
                structure = losses.structure_loss(fake, content)
            g_loss = config.adv_weight * adv + config.structure_weight * structure
            if config.swd_weight:
                swd = fake.new_zeros(())
                for s in idx.unique():
                    swd = swd + losses.sliced_wasserstein(fake[idx == s], data.sample_look(int(s), 4).to(device))
                g_loss = g_loss + config.swd_weight * swd / len(idx.unique())
            if band_shift is not None and it >= config.band_from:
                g_loss = g_loss + config.band_weight * band_shift.loss(fake, content, idx, band_factors[idx])
            if config.hue_weight:
                g_loss = g_loss + config.hue_weight * losses.hue_loss(fake, content)
            if config.moment_weight and content_moments is not None:
                g_loss = g_loss + config.moment_weight * losses.moment_shift_loss(
                    fake, content, idx, moments, content_moments, affine=config.moment_mode == "affine")
            elif config.moment_weight:
                g_loss = g_loss + config.moment_weight * losses.colour_moment_loss(fake, idx, moments)
            if config.identity_weight:
                # CycleGAN's identity term: a photo already in the look stays as it is, which keeps
                # the generator from repainting colours that belong to the photos, not the look.
                g_loss = g_loss + config.identity_weight * (generator(reals, style) - reals).abs().mean()
            if config.tv_weight:
                g_loss = g_loss + config.tv_weight * losses.total_variation(fake)
            if perceptual is not None:
                g_loss = g_loss + config.perceptual_weight * perceptual(fake, content)
            if config.temporal_weight:
                # On the first temporal_batch crops only: the extra generator pass is the term's cost.
                k = min(config.temporal_batch or content.shape[0], content.shape[0])
                theta = losses.random_small_affine(k, size=content.shape[-1])
                temporal = losses.temporal_consistency(lambda x: generator(x, style[:k]), content[:k], fake[:k], theta)
                g_loss = g_loss + config.temporal_weight * temporal
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(g_loss).backward()
        if config.model.ink and it < config.ink_from:
            generator.ink_strength.weight.grad = None  # held at zero: Adam leaves a weight without a gradient
        dist.average_gradients(generator)
        scaler.step(opt_g)
        scaler.update()

        with torch.no_grad():
            # With warm-up, early weights fade fast; without it, the average keeps a share of the
            # identity-initialized start (0.999**1000 = 37%), a conservative model on short runs.
            decay = min(config.ema_decay, (1 + it) / (10 + it)) if config.ema_warmup else config.ema_decay
            for e, p in zip(ema.parameters(), generator.parameters()):
                e.lerp_(p, 1 - decay)
            for e, b in zip(ema.buffers(), generator.buffers()):
                e.copy_(b)  # BatchNorm statistics follow the live generator
        record = {"d": d_loss.item(), "adv": adv.item(), "struct": structure.item(), "g": g_loss.item()}
        if config.temporal_weight:
            record["temporal"] = temporal.item()
        if not dist.all_finite(record.values()):
            raise DivergenceError(
                f"non-finite loss at iteration {it + 1}: {record}. The last good checkpoint is kept at "
                f"{ckpt_path}; lower the learning rates in the config and run again with --resume.")
        history.append(record)
        if bar is not None:
            bar.set_postfix(d=f"{record['d']:.3f}", adv=f"{record['adv']:.3f}", struct=f"{record['struct']:.3f}")
            bar.update(1)
        done = it + 1
        checkpoint_now = done % config.checkpoint_every == 0 or done == end
        if checkpoint_now or done % config.sample_every == 0:
            dist.average_buffers(generator)  # collective: every rank, before rank 0 samples or saves
            dist.average_buffers(ema)
        replicas = {}
        if checkpoint_now:  # collectives: every rank takes part
            # Recorded with each checkpoint: ranks out of step would mean rank 0 saved one replica of several.
            replicas = {"replica_spread": dist.replica_spread(generator, ema, discriminator),
                        "rank_losses_g": dist.gather(record["g"])}
            if replicas["replica_spread"] != 0.0 and dist.main:
                warnings.warn(f"ranks' weights differ by up to {replicas['replica_spread']:.3g} at iteration {done}; "
                              "the checkpoint holds rank 0's", RuntimeWarning, stacklevel=1)
        if dist.main and (done % config.sample_every == 0 or done == config.iterations):
            import cv2
            grid = _sample_grid(ema.eval(), fixed_content, config.model.num_styles)
            cv2.imwrite(str(run_dir / f"samples_{done:06d}.png"), grid[:, :, ::-1])
        if dist.main and checkpoint_now:
            save_atomic({
                "generator": generator.state_dict(), "generator_ema": ema.state_dict(), "discriminator": discriminator.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "iteration": done,
                "data_rng": json.dumps(data.state()), "torch_rng": torch.get_rng_state(),
                "history": json.dumps(history), "config": json.dumps(config.raw),
                "styles": json.dumps(config.styles), "world_size": dist.world, "replicas": json.dumps(replicas),
            }, ckpt_path)
    if bar is not None:
        bar.close()
    dist.barrier()  # no rank leaves before the checkpoint is on disk
    return {"iteration": end, "losses": history, "seconds": time.time() - t0, "world_size": dist.world,
            "rank": dist.rank}
