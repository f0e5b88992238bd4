"""Structured channel pruning to a MACs target, then distillation toward the unpruned generator."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from sdk.package import ModelPackage, load_package
from trainer import photos
from trainer.data import colour_variants
from trainer.models.generator import INK_FIXED, Generator, count_macs, count_parameters, trainable_parameters
from trainer.compress.metrics import measure
from trainer.compress.variants import variants_of, write_variants
from trainer.export import generator_from_package


ROUND_TO = 8


def conv_channels(model: torch.nn.Module) -> dict[str, int]:
    """Output channels of every per-pixel conv (the record of what pruning kept)."""
    return {name: m.out_channels for name, m in model.named_modules()
            if isinstance(m, torch.nn.Conv2d) and "affine" not in name}


# Convs whose outputs are RGB: their channels are the contract, not capacity.
UNPRUNABLE = ("to_rgb", "colour_out") + INK_FIXED + ("ink_strength",)  # the ink path's maps are its contract too


def _unprunable(model: Generator) -> list[torch.nn.Module]:
    return [getattr(model, name) for name in UNPRUNABLE if hasattr(model, name)]


def prune(model: Generator, macs_fraction: float) -> Generator:
    """A pruned copy with at most ``macs_fraction`` of the MACs at 1280x720 (channels multiples of 8)."""
    import torch_pruning as tp

    full = count_macs(model, 720, 1280)
    example = (torch.rand(1, 3, 64, 64) * 2 - 1, torch.eye(model.config.num_styles)[:1].view(1, -1, 1, 1))
    best = None
    # torch-pruning prunes by a uniform ratio per layer; step it up until the MACs fit the target.
    # The stem's channels and the colour head's are halved (16 -> 8) at any target: the stem's run at
    # 1/2 resolution, the colour head's at full resolution, where a channel costs the most time per MAC.
    for ratio in np.arange(0.05, 0.81, 0.05):
        candidate = copy.deepcopy(model).requires_grad_(True)  # torch-pruning skips frozen parameters
        halved = [candidate.stem.conv] + ([candidate.colour_pixel] if model.config.colour_channels > 8 else [])
        pruner = tp.pruner.MetaPruner(candidate, example, importance=tp.importance.MagnitudeImportance(p=2),
                                      pruning_ratio=float(ratio), pruning_ratio_dict={m: 0.5 for m in halved},
                                      round_to=ROUND_TO, ignored_layers=_unprunable(candidate))
        pruner.step()
        if count_macs(candidate, 720, 1280) <= macs_fraction * full:
            best = candidate
            break
    if best is None:
        raise ValueError(f"cannot prune to {macs_fraction:.0%} of the MACs with channels in multiples of {ROUND_TO}")
    return best.eval()


def training_photos(seed: int = 0, copies: int = 4) -> list[np.ndarray]:
    """Content and look-side photos with colour variants; never the held-out ones."""
    rng = np.random.default_rng(seed)
    return [v for im in photos.load_set(photos.CONTENT + photos.STYLE) for v in colour_variants(im, copies, rng)]


def _batch(images: list[np.ndarray], batch: int, crop: int, rng: np.random.Generator) -> torch.Tensor:
    out = []
    for _ in range(batch):
        image = images[rng.integers(len(images))]
        scale = rng.uniform(0.35, 1.0)
        h, w = image.shape[:2]
        size = max(crop, int(min(h, w) * scale))
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        patch = cv2.resize(image[y:y + size, x:x + size], (crop, crop), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out.append(patch)
    return torch.from_numpy(np.stack(out).astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2).contiguous()


def _styles(batch: int, num_styles: int, rng: np.random.Generator) -> torch.Tensor:
    """Mostly one-hot styles, some mixes: the student must follow the teacher on both."""
    vec = np.zeros((batch, num_styles), np.float32)
    for i in range(batch):
        if rng.random() < 0.75:
            vec[i, rng.integers(num_styles)] = 1
        else:
            vec[i] = rng.dirichlet(np.ones(num_styles))
    return torch.from_numpy(vec).view(batch, num_styles, 1, 1)


def distill(student: Generator, teacher: Generator, iterations: int = 600, batch: int = 8, crop: int = 128,
            lr: float = 2e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Fine-tune ``student`` toward ``teacher``: L1 on pixels + L1 on the teacher's stem/down features.

    The feature term compares both outputs through the teacher's own first two layers (frozen): an
    error there is one the next layers would see, not just a pixel offset. Returns the loss curve.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = training_photos(seed)
    teacher = teacher.eval().requires_grad_(False)
    student.train().requires_grad_(True)
    optimizer = torch.optim.Adam(trainable_parameters(student), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min=lr * 0.02)

    def features(image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return teacher.down(teacher.stem(image, style), style)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=iterations, desc="distill", unit="it", dynamic_ncols=True, mininterval=2.0)
    history = []
    for _ in range(iterations):
        x = _batch(images, batch, crop, rng)
        s = _styles(batch, teacher.config.num_styles, rng)
        with torch.no_grad():
            target = teacher(x, s)
            target_features = features(target, s)
        out = student(x, s)
        loss = F.l1_loss(out, target) + 0.5 * F.l1_loss(features(out, s), target_features)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        if not math.isfinite(history[-1]):
            raise FloatingPointError(f"distillation loss is {history[-1]} at iteration {len(history)}; lower --lr")
        if bar is not None:
            bar.set_postfix(loss=f"{history[-1]:.4f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return history


# -- quantization -----------------------------------------------------------------------------


def prune_package(package_path: str | Path | None, out: str | Path, targets: list[float], iterations: int = 600,
                  command: str = "", progress: bool = True) -> ModelPackage:
    """Add a distilled ``pruned<NN>`` FP32 variant per MACs target."""
    from trainer.export import check_against_onnxruntime, to_onnx

    package = load_package(package_path)
    styles = list(package.style_names)
    teacher = generator_from_package(package)
    reference = package.file("fp32").read_bytes()
    full_macs = count_macs(teacher, 720, 1280)
    variants, files = variants_of(package), {}
    variants["fp32"].update(measure(reference, reference, styles, "fp32"))
    for target in targets:
        name = f"pruned{round(target * 100):02d}"
        student = prune(teacher, target)
        history = distill(student, teacher, iterations=iterations, progress=progress)
        student.eval()
        blob = to_onnx(student)
        check_against_onnxruntime(student, blob, styles)
        file = f"generator.{name}.onnx"
        files[file] = blob
        macs = count_macs(student, 720, 1280)
        variants[name] = {"file": file, "precision": "fp32", "pruned_from": "fp32", "macs_target": target,
                          "parameters": count_parameters(student), "macs_1280x720": macs,
                          "macs_fraction": round(macs / full_macs, 4), "channels": conv_channels(student),
                          "distill": {"iterations": iterations, "first_loss": round(history[0], 5),
                                      "last_loss": round(float(np.mean(history[-20:])), 5)},
                          **measure(blob, reference, styles, name)}
    return write_variants(package, out, files, variants, command)
