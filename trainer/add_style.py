"""Add a style to an existing multi-style package from a folder of photos in the new look.

Only the new style's parameters train: in every per-style affine (``gamma(s)``, ``beta(s)``, 1x1
convs from the style vector), one new input column, including a per-style scale and shift of the
output RGB that the widened model gains (zeros for the existing styles: exactly the identity).
From pairs and from a LUT the style may also own hidden channels of the per-pixel colour head (its
own pixel, context and output weights; :func:`grow_colour_head`, ``--own-channels``): one column of
scales and shifts carries most of a grade but not all of it. Every shared weight, bias and the existing
styles' columns stay frozen, and the owned channels are off (exactly zero) for every other style,
so with a one-hot vector for an old style the network computes exactly what it did before: the
old styles' outputs are bit-identical, which tests/trainer/test_add_style.py checks through the SDK.

Training is unpaired, like the main trainer: content crops from ``--content`` (default: the photo
corpus's train-content photos, else the bundled ones, with colour variants) go through the generator; a fresh one-style
discriminator compares them with crops of the look photos; structure (SSIM) keeps the content,
colour moments pull the global tone toward the look photos'.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch

from sdk.package import load_package, write_package
from trainer import grade_prior, losses, photos
from trainer.export import generator_from_package, resize_convs
from trainer.data import UnpairedCrops, colour_variants
from trainer.evaluate import load_folder
from trainer.looks import warm_film
from trainer.models.discriminator import PatchDiscriminator
from trainer.models.generator import Generator, GeneratorConfig, is_style_column_weight, style_vector

MIN_LOOK_PHOTOS = 5
MIN_PHOTO_SIDE = 128  # a training crop's size: anything smaller cannot give one


PREVIEW_EVERY_S = 120.0
# Colour-head channels a style learned from pairs or a LUT may own (--own-channels, grow_colour_head): 8
# take a strong LUT from 0.93 to 0.96 closure, but the full-resolution hidden map doubles in a pruned
# variant, and the new style runs about 20% slower on the CPU (the old styles keep theirs through the lean
# files, _lean_files). Off by default; latencies are measured anew when on.
# Distillation steps of the new style into each pruned variant (trainer/compress/widen.py): about 35-40 s each
# on 2 cores. A look of fine lines (looks.ink_sketch from pairs) missed pruned25's 30 dB floor after 300
# (29.1 dB) and passes every floor after 1,200 (31.2 dB; its INT8 file 30.6).
VARIANT_ITERATIONS = 1200
# From photos, the estimated grade (trainer/grade_prior.py) teaches the new column beside the unpaired terms
# (which add the midtones a line misses, and draw what a grade cannot): on warm_grade, test split, FP32, the
# levels alone 0.43, taught with them 0.55 (four runs averaged), untaught -0.05 (docs/training.md).
# Its average forgets the start faster than the untaught one's (0.99 against 0.999): the teacher, not the
# average, now keeps the column from overshooting.
TEACHER_WEIGHT = 1.0
TAUGHT_EMA_DECAY = 0.99


def preview_path(out) -> Path:
    """Where the preview sheet of a package written to ``out`` goes: beside it, not inside (a package holds
    only what its manifest lists)."""
    out = Path(out)
    return out.parent / f"{out.name}-preview.jpg"


class Preview:
    """A contact sheet of unseen photos (the bundled held-out ones): rows, each the original | the new look.
    Written every ``every_s`` seconds while training and at the end, so a creator can look and stop early."""

    def __init__(self, path, every_s: float = PREVIEW_EVERY_S, height: int = 200):
        import cv2
        self.path, self.every_s, self.last = Path(path), every_s, time.time()
        self.photos = []
        for image in photos.load_set(photos.HELD_OUT):
            scale = height / image.shape[0]
            w = max(4, int(round(image.shape[1] * scale / 4)) * 4)
            self.photos.append(cv2.resize(image, (w, height), interpolation=cv2.INTER_AREA))

    def write(self, model: Generator) -> Path:
        import cv2
        n = model.config.num_styles
        style = style_vector(n - 1, n)
        was_training = model.training
        model.eval()
        rows = [np.hstack([p, np.full((p.shape[0], 6, 3), 255, np.uint8), _rgb_out(model, p, style)]) for p in self.photos]
        model.train(was_training)
        width = max(r.shape[1] for r in rows)
        sheet = np.vstack([np.pad(r, ((3, 3), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.jpg")
        cv2.imwrite(str(tmp), sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        tmp.replace(self.path)  # a viewer never sees half a file
        self.last = time.time()
        return self.path

    def maybe(self, model: Generator) -> None:
        if time.time() - self.last >= self.every_s:
            self.write(model)


class LiveEstimate:
    """How far the look has come, for the progress bar: 1 - gap(output) / gap(input) on each training
    batch (0: the photo, 1: the look), averaged over about the last 20 batches. With a target (pairs,
    a LUT) the gap is the mean absolute pixel error to it: the closure of `trainer evaluate`, on
    training crops. From photos alone there is no target, and the gap is the distance of the batch's
    colour statistics (mean and spread of R, G, B, saturation) to the look photos'."""

    def __init__(self, decay: float = 0.95):
        self.decay, self.value = decay, None

    def update(self, x: torch.Tensor, output: torch.Tensor, target: torch.Tensor | None = None,
               look_moments: torch.Tensor | None = None) -> float:
        with torch.no_grad():
            if target is not None:
                before, after = (x - target).abs().mean(), (output - target).abs().mean()
            else:
                before = (UnpairedCrops.moments_of(x) - look_moments).abs().sum()
                after = (UnpairedCrops.moments_of(output) - look_moments).abs().sum()
            estimate = 1.0 - float(after) / max(float(before), 1e-6)
        self.value = estimate if self.value is None else self.decay * self.value + (1 - self.decay) * estimate
        return self.value


def load_look_photos(folder, min_side: int = MIN_PHOTO_SIDE, option: str = "--photos"
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A creator's folder as ``({file name: RGB uint8}, {skipped file name: why})``.

    OpenCV's reader applies a JPEG's EXIF orientation, converts 16-bit files to 8 bits and grey or
    palette files to three channels, and reads JPEG, PNG, WebP, BMP and TIFF. A file it cannot decode,
    one smaller than ``min_side`` on its short side, and files of other types are skipped, with the reason."""
    import cv2
    from trainer.evaluate import IMAGE_SUFFIXES
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{option} {folder}: no such folder")
    photos_in, skipped = {}, {}
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped[path.name] = f"not an image type read here ({', '.join(IMAGE_SUFFIXES)})"
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            skipped[path.name] = "could not be decoded (damaged or not really an image)"
        elif min(image.shape[:2]) < min_side:
            skipped[path.name] = f"{image.shape[1]}x{image.shape[0]}: smaller than {min_side} px on its short side"
        else:
            photos_in[path.name] = np.ascontiguousarray(image[:, :, ::-1])
    return photos_in, skipped


def widen(base: Generator, start_from: int = 0) -> Generator:
    """A deploy generator with one more style, whose column starts as a copy of style ``start_from``'s,
    and with a per-style output colour scale/shift (all zeros where the base had none: the identity)."""
    config = GeneratorConfig(**{**base.config.to_dict(), "num_styles": base.config.num_styles + 1,
                                "output_affine": True})
    model = Generator(config).deploy()
    state = base.state_dict()
    # A pruned base: its convs' channel counts, each style conv with one more input (the new column).
    resize_convs(model, {k: (v.shape[0], v.shape[1] + 1, *v.shape[2:]) if is_style_column_weight(k) else tuple(v.shape)
                         for k, v in state.items() if k.endswith(".weight")})
    for key, value in model.state_dict().items():
        if key not in state:  # the output affine of a base without one: zeros, x * (1 + 0) + 0 == x exactly
            state[key] = torch.zeros_like(value)
        elif state[key].shape != value.shape:  # a style -> gamma/beta weight: (C, N, 1, 1) -> (C, N + 1, 1, 1)
            state[key] = torch.cat([state[key], state[key][:, start_from:start_from + 1]], dim=1)
    model.load_state_dict(state)
    return model.eval()


def grow_colour_head(model: Generator, channels: int, seed: int = 0) -> Generator:
    """``model`` (just widened: its last style is the new one) with ``channels`` more hidden channels in
    the colour head, owned by the new style. Their scale is ``1 + gamma(s)`` with a bias of -1 and a
    column of 1 for the new style only, so for every other style (and every later added one) the scale
    is exactly 0 and the channel computes ``relu(0 + 0) = 0``: nothing changes for them. For the new
    style they start in their linear range (pixel bias 1, small random weights) with zero output
    weights, so the new style starts where its column starts."""
    if not channels or not model.config.colour_channels:
        return model
    hidden, n = model.colour_pixel.out_channels, model.config.num_styles
    state = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items() if k.endswith(".weight")}
    for key in ("colour_pixel.weight", "colour_context.weight", "colour_affine.to_gamma.weight",
                "colour_affine.to_beta.weight"):
        shapes[key] = (hidden + channels, *shapes[key][1:])
    shapes["colour_out.weight"] = (3, hidden + channels, 1, 1)
    grown = Generator(model.config).deploy()
    resize_convs(grown, shapes)
    rng = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in grown.state_dict().items():
        old = state[key]
        if old.shape == value.shape:
            out[key] = old.clone()
            continue
        new = torch.zeros_like(value)
        if key == "colour_out.weight":
            new[:, :hidden] = old
        else:
            new[:hidden] = old
            if key == "colour_pixel.weight":
                new[hidden:] = 0.5 * torch.randn(new[hidden:].shape, generator=rng)
            elif key == "colour_context.weight":
                new[hidden:] = 0.1 * torch.randn(new[hidden:].shape, generator=rng)
            elif key == "colour_pixel.bias":
                new[hidden:] = 1.0
            elif key == "colour_affine.to_gamma.bias":
                new[hidden:] = -1.0
            elif key == "colour_affine.to_gamma.weight":
                new[hidden:, n - 1] = 1.0
        out[key] = new
    grown.load_state_dict(out)
    return grown.eval()


def widen_owning(base: Generator, start_from: int, owned: int, seed: int = 0) -> tuple[Generator, int]:
    """:func:`widen`, then :func:`grow_colour_head` by ``owned``: (model, the channels it owns), 0 for a base
    without a colour head."""
    model = grow_colour_head(widen(base, start_from), owned, seed)
    return model, model.colour_pixel.out_channels - base.colour_pixel.out_channels if base.config.colour_channels else 0


def clamp_owned_outputs(model: Generator, owned: int) -> None:
    """Keep each owned channel's output weight within the largest old weight of its output row. INT8
    variants quantize colour_out per output row, with a scale set by the row's largest weight: a larger
    owned weight would re-quantize, and so change, every old style's weights of that row."""
    if not owned:
        return
    with torch.no_grad():
        weight = model.colour_out.weight
        limit = weight[:, :-owned].abs().amax(dim=(1, 2, 3), keepdim=True)
        weight[:, -owned:] = torch.maximum(torch.minimum(weight[:, -owned:], limit), -limit)


def closest_style(base: Generator, data: UnpairedCrops, samples: int = 64) -> int:
    """The existing style whose outputs' colour moments are nearest the look photos': the starting point.
    64 crops: with 8 the pick flipped between styles from one seed to the next."""
    state = data.state()
    x, _, _ = data.sample(samples)
    data.load_state(state)  # a peek: training then draws the same crops it would have without it
    target = data.style_moments()[0]
    n = base.config.num_styles
    with torch.no_grad():
        gaps = [float((UnpairedCrops.moments_of(base(x, torch.eye(n)[k].view(1, n, 1, 1).expand(samples, -1, -1, -1)))
                       - target).abs().sum()) for k in range(n)]
    return int(np.argmin(gaps))


def style_affine_weights(model: Generator) -> list[torch.nn.Parameter]:
    """The weights of every per-style scale/shift (1x1 convs from the style vector) and the ink's strength,
    in module order: column k of each is style k's."""
    return [p for name, p in model.named_parameters() if is_style_column_weight(name)]


def new_style_parameters(model: Generator, owned: int = 0) -> list[torch.nn.Parameter]:
    """Freeze everything but the new style's column and its ``owned`` colour-head channels (the last
    ones, :func:`grow_colour_head`); returns the weights that hold them."""
    model.requires_grad_(False)
    new = model.config.num_styles - 1
    params = style_affine_weights(model)

    def train_part(tensor: torch.Tensor, index) -> None:
        tensor.requires_grad_(True)
        mask = torch.zeros_like(tensor)
        mask[index] = 1.0
        # Every other part gets exactly zero gradient, so Adam leaves it bit-for-bit as it was.
        tensor.register_hook(lambda grad, mask=mask: grad * mask)

    for weight in params:
        train_part(weight, (slice(None), new))
    if owned:
        rows = slice(model.colour_pixel.out_channels - owned, None)
        for tensor, index in ((model.colour_pixel.weight, rows), (model.colour_pixel.bias, rows),
                              (model.colour_context.weight, rows), (model.colour_out.weight, (slice(None), rows))):
            train_part(tensor, index)
            params.append(tensor)
    return params


def train_new_style(model: Generator, data: UnpairedCrops,
                    iterations: int = 600, batch: int = 8, lr: float = 5e-3, seed: int = 0,
                    progress: bool = True, adv_weight: float = 0.5, moment_weight: float = 0.5,
                    structure_weight: float = 4.0, ema_decay: float = 0.999,
                    preview: "Preview | None" = None, bar=None, teacher=None, teacher_weight: float = 0.0) -> list[dict]:
    """Train the new style's column in place (learning rate decayed to 5% over the run). The column
    kept is an exponential moving average of its iterates that starts at the starting column: it damps
    the adversarial game's swings and, at 0.999 over 600 iterations (0.999^600 = 55% on the start),
    pulls the result halfway back toward the start. The unpaired signal points the right way but
    overshoots; the decay was chosen on validation photos (benchmarks/add_style_sweep.py).

    The colour-moment weight is lower than the main recipe's: a handful of photos from a few scenes
    carry the scenes' own colours in their moments, and pulling hard toward them over-corrects.
    ``teacher(x)``: a target for each content crop (the estimated grade), pulled toward by L1 at
    ``teacher_weight`` beside the unpaired terms."""
    torch.manual_seed(seed)
    new = model.config.num_styles - 1
    moments = data.style_moments()
    params = new_style_parameters(model)
    averages = [p[:, new].detach().clone() for p in params]
    discriminator = PatchDiscriminator(1)
    opt_g = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.99))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, iterations, eta_min=lr * 0.05)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.99))
    style = torch.zeros(batch, model.config.num_styles, 1, 1)
    style[:, new] = 1.0
    judge_index = torch.zeros(batch, dtype=torch.long)

    def judge(images):
        return discriminator(torch.nn.functional.avg_pool2d(images, 2), judge_index)

    own_bar = bar is None and progress
    if own_bar:
        bar = _progress_bar(iterations, "add-style")
    live = LiveEstimate()
    model.train()
    history = []
    for it in range(iterations):
        x, reals, _ = data.sample(batch)
        fake = model(x, style)
        d_loss = losses.lsgan_d(judge(reals), judge(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        adv = losses.lsgan_g(judge(fake))
        structure = losses.structure_loss(fake, x)
        moment = losses.colour_moment_loss(fake, torch.zeros(batch, dtype=torch.long), moments)
        g_loss = adv_weight * adv + structure_weight * structure + moment_weight * moment
        if teacher is not None:
            g_loss = g_loss + teacher_weight * (fake - teacher(x)).abs().mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        schedule.step()
        with torch.no_grad():
            for average, p in zip(averages, params):
                average.mul_(ema_decay).add_(p[:, new], alpha=1 - ema_decay)
        record = {"d": d_loss.item(), "adv": adv.item(), "struct": structure.item(), "moment": moment.item(),
                  "toward_look": live.update(x, fake, look_moments=moments[0])}
        if not all(math.isfinite(v) for v in record.values()):
            raise FloatingPointError(f"non-finite loss at iteration {it + 1}: {record}; lower --lr")
        history.append(record)
        if preview is not None:
            preview.maybe(model)
        if bar is not None:
            bar.set_postfix(toward_look=f"{record['toward_look']:.2f}", adv=f"{record['adv']:.3f}")
            bar.update(1)
    if own_bar:
        bar.close()
    with torch.no_grad():
        for average, p in zip(averages, params):
            p[:, new] = average
    return history


def train_averaged(base: Generator, start_from: int, content: list[np.ndarray], look: list[np.ndarray],
                   runs: int, iterations: int, seed: int, progress: bool,
                   first_data: UnpairedCrops | None = None, preview: Preview | None = None,
                   levels: "grade_prior.Levels | None" = None) -> tuple[Generator, list[dict]]:
    """``runs`` trainings of the new column from the same start with different seeds (crops,
    discriminator), averaged: an unpaired run on ~30 photos depends on its seed, and the average of a
    few sits near the middle of their spread. ``first_data``: run 0's crops (seed ``seed``) if the
    caller built them already (closest_style peeks at them and leaves them as they were). ``levels``: a
    grade estimated from the two sets (:mod:`trainer.grade_prior`), then a teacher of every run."""
    model = widen(base, start_from)
    new = model.config.num_styles - 1
    columns, histories = [], []
    bar = _progress_bar(runs * iterations, f"add-style ({runs} runs)" if runs > 1 else "add-style") if progress else None
    taught = {} if levels is None else {"teacher": levels.apply_torch, "teacher_weight": TEACHER_WEIGHT,
                                        "ema_decay": TAUGHT_EMA_DECAY}
    for run in range(runs):
        trained = widen(base, start_from)
        data = first_data if run == 0 and first_data is not None else UnpairedCrops(content, [look], 128, seed + run)
        histories.append(train_new_style(trained, data, iterations=iterations, seed=seed + run, progress=progress,
                                         preview=preview, bar=bar, **taught))
        columns.append([w[:, new].clone() for w in style_affine_weights(trained)])
    if bar is not None:
        bar.close()
    with torch.no_grad():
        for i, p in enumerate(style_affine_weights(model)):
            p[:, new] = torch.stack([c[i] for c in columns]).mean(0)
    return model.eval(), histories


def _progress_bar(total: int, desc: str):
    """tqdm with an ETA over the whole job; off when stderr is not a terminal (a log gets no control characters)."""
    import sys
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="it", dynamic_ncols=True, mininterval=2.0, disable=not sys.stderr.isatty())


def bundled_content(seed: int = 0) -> list[np.ndarray]:
    """The bundled content photos, six re-coloured copies each: inputs for a teacher (a LUT, distillation)."""
    rng = np.random.default_rng(seed + 1)
    return [v for im in photos.load_set(photos.CONTENT) for v in colour_variants(im, 6, rng)]


CORPUS_LONG_SIDE = 1024


def default_content(seed: int = 0) -> list[np.ndarray]:
    """The generator's inputs without --content: the photo corpus's train-content photos (`python -m trainer
    photos fetch`) at a long side of 1024, four re-coloured copies each; the bundled ones without the corpus."""
    from trainer import corpus
    if not corpus.available():
        return bundled_content(seed)
    rng = np.random.default_rng(seed + 1)
    return [v for im in corpus.load("train-content", max_side=CORPUS_LONG_SIDE).values()
            for v in colour_variants(im, 4, rng)]


def plain_photos(content_dir=None) -> list[np.ndarray]:
    """The plain side of the grade estimate: --content's photos, else the corpus's train-content photos, else
    the bundled content photos; without the re-coloured copies, whose random casts would enter the estimate."""
    from trainer import corpus
    if content_dir is not None:
        return list(load_folder(content_dir).values())
    if corpus.available():
        return list(corpus.load("train-content", max_side=grade_prior.LONG_SIDE).values())
    return photos.load_set(photos.CONTENT)


def add_style(package_path, name: str, photos_dir, out, content_dir=None, iterations: int = 600,
              seed: int = 0, command: str = "", progress: bool = True, runs: int = 4,
              variant_iterations: int = VARIANT_ITERATIONS, grade_teacher: bool = True):
    """Write a package at ``out`` with the styles of ``package_path`` plus ``name``. ``grade_teacher``: fit
    per-channel levels from the plain photos to the look photos and teach them beside the unpaired terms
    (a colour grade; off for a look that is not one)."""
    if runs < 1:
        raise ValueError(f"runs={runs}; need at least 1 training run to average (the default is 4)")
    package = load_package(package_path)
    if name in package.style_names:
        raise ValueError(f"style {name!r} is already in {package.path} ({', '.join(package.style_names)}); "
                         "pick another --name")
    found, skipped = load_look_photos(photos_dir)
    look = list(found.values())
    if len(look) < MIN_LOOK_PHOTOS:
        reasons = "".join(f"; skipped {name}: {why}" for name, why in skipped.items())
        raise ValueError(f"{photos_dir} holds {len(look)} usable photos; a look needs at least {MIN_LOOK_PHOTOS} "
                         f"(20-50 work well){reasons}")
    if content_dir is not None:
        content = list(load_folder(content_dir).values())
    else:
        content = default_content(seed)
    base = generator_from_package(package)
    first_data = UnpairedCrops(content, [look], 128, seed)  # the crop pyramid is built once for both uses
    start_from = closest_style(base, first_data)
    start = time.time()
    plain = plain_photos(content_dir)
    levels = grade_prior.fit_levels(plain, look, seed)
    detail = grade_prior.detail_ratio(plain, look, levels)
    if not grade_teacher:
        levels = None
    preview = Preview(preview_path(out))
    model, histories = train_averaged(base, start_from, content, look, runs, iterations, seed, progress, first_data,
                                      preview, levels)
    preview.write(model)
    seconds = time.time() - start
    record = {"name": name, "source": "photos", "date": time.strftime("%Y-%m-%d"), "photos": len(look),
              "skipped": skipped,
              "iterations": iterations, "runs": runs,
              "grade_teacher": None if levels is None else levels.to_dict(), "detail_ratio": round(detail, 3),
              "seconds": round(seconds, 1), "started_from": package.style_names[start_from],
              "last_losses": [h[-1] for h in histories], "command": command}
    description = f"added from {len(look)} photos in {photos_dir} on {record['date']}"
    return _write_widened(package, model, name, description, record, out, variant_iterations, progress), seconds


def _write_widened(package, model: Generator, name: str, description: str, record: dict, out,
                   variant_iterations: int, progress: bool, owned: int = 0):
    """The package with ``model`` (its styles plus ``name``) as its FP32 file, checked against ONNX Runtime,
    and every compressed variant of the base widened alike (trainer/compress/widen.py). With ``owned``
    colour-head channels every network is larger, so every latency is measured anew (in the layout the
    base recorded: the old styles' pixels depend on it)."""
    from trainer.compress.metrics import measure_latencies
    from trainer.compress.widen import widen_variants
    from trainer.export import check_against_onnxruntime, to_onnx
    from trainer.models.generator import count_macs, count_parameters

    model.eval().requires_grad_(False)
    styles = list(package.style_names) + [name]
    blob = to_onnx(model)
    max_diff = check_against_onnxruntime(model, blob, styles)
    files, variants = widen_variants(package, model, blob, bundled_content(), variant_iterations,
                                     log=print if progress else None, owned=owned)
    manifest = {k: copy.deepcopy(v) for k, v in package.manifest.items()
                if k not in ("format", "format_version", "files", "variants")}
    manifest["styles"] = [*manifest["styles"], {"name": name, "index": len(styles) - 1, "description": description}]
    manifest["style_input"]["shape"] = [1, len(styles), 1, 1]
    manifest["model"]["config"] = model.config.to_dict()
    manifest["model"]["onnxruntime_max_abs_diff"] = max_diff
    precisions = {"fp32": "generator.onnx"}
    for precision, file in package.manifest["precisions"].items():
        if file in files:
            precisions[precision] = file
    manifest["precisions"] = precisions
    if package.variants:
        fp32 = copy.deepcopy(package.variants["fp32"])
        fp32["bytes"] = len(blob)
        manifest["variants"] = {"fp32": fp32, **variants}
        if owned:
            fp32["parameters"], fp32["macs_1280x720"] = count_parameters(model), count_macs(model, 720, 1280)
            blobs = {v: blob if v == "fp32" else files[entry["file"]] for v, entry in manifest["variants"].items()}
            measure_latencies(blobs, manifest["variants"], len(styles))
    manifest.setdefault("added_styles", []).append(record)
    lean, lean_blobs = _lean_files(package, owned, {"generator.onnx", *files})
    if lean:
        manifest["lean"] = lean
    return write_package(out, {"generator.onnx": blob, **files, **lean_blobs}, manifest)


def _lean_files(package, owned: int, written: set[str]) -> tuple[dict | None, dict[str, bytes]]:
    """The files that serve the styles owning no colour-head channels at the speed they had before any were
    owned: ``manifest["lean"] = {"styles": n, "files": {file: its lean copy}}``, where each lean copy is the
    same variant before the first add-style with owned channels (its first n styles). Those styles are
    bit-identical in both (see :func:`grow_colour_head`); the SDK runs the lean copy for any style vector that
    is zero beyond the first n. A base that has lean files passes them on (a later style, owning channels or
    not, leaves the first n styles as they were)."""
    base = package.manifest.get("lean")
    if base:
        mapping = {f: lean for f, lean in base["files"].items() if f in written}
        return {"styles": base["styles"], "files": mapping}, {lean: (package.path / lean).read_bytes()
                                                              for lean in mapping.values()}
    if not owned:
        return None, {}
    mapping = {f: "lean_" + f for f in package.manifest["files"] if f in written}
    return {"styles": len(package.style_names), "files": mapping}, {lean: (package.path / f).read_bytes()
                                                                   for f, lean in mapping.items()}


def add_style_from_lut(package_path, name: str, lut_path, out, iterations: int = 1500, lr: float = 0.02,
                       batch: int = 8, seed: int = 0, command: str = "", progress: bool = True,
                       variant_iterations: int = VARIANT_ITERATIONS, owned: int = 0):
    """Learn the look of a .cube LUT as a new style: the LUT is the teacher (content crops, and the LUT
    applied to them), so the loss is paired (L1), and only the new style's column trains, as in
    :func:`add_style`, plus ``owned`` colour-head channels of its own if asked (:func:`grow_colour_head`).
    Returns (package, seconds, closure per unseen photo against applying the LUT)."""
    from trainer import evaluate
    from trainer import lut as luts
    from trainer.closure import closure

    package = load_package(package_path)
    if name in package.style_names:
        raise ValueError(f"style {name!r} is already in {package.path} ({', '.join(package.style_names)}); "
                         "pick another --name")
    teacher = luts.CubeLut(lut_path)
    grid = teacher.torch_lattice()
    # The bundled photos' re-coloured copies span more colours per crop than the corpus's scenes: on the
    # test split a strong LUT reached 0.93 from them against 0.91 from the corpus.
    content = bundled_content(seed)
    data = UnpairedCrops(content, [], 128, seed)
    base = generator_from_package(package)
    model, owned = widen_owning(base, 0, owned, seed)
    new = model.config.num_styles - 1
    torch.manual_seed(seed)
    params = new_style_parameters(model, owned)
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations, eta_min=lr * 0.05)
    style = torch.zeros(batch, new + 1, 1, 1)
    style[:, new] = 1.0
    bar = _progress_bar(iterations, "add-style (LUT)") if progress else None
    live = LiveEstimate()
    start = time.time()
    loss = None
    for it in range(iterations):
        x = data.sample_content(batch)
        target = luts.torch_apply(grid, x)
        fake = model(x, style)
        loss = (fake - target).abs().mean()
        toward_look = live.update(x, fake, target)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"non-finite loss at iteration {it + 1}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clamp_owned_outputs(model, owned)
        schedule.step()
        if bar is not None:
            bar.set_postfix(toward_look=f"{toward_look:.3f}", l1=f"{loss.item() * 127.5:.2f} levels")
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.time() - start
    model.eval()
    Preview(preview_path(out)).write(model)
    test, _, _, where = evaluate.looks_sets()
    scores = {photo_name: closure(_rgb_out(model, rgb, style[:1]), rgb, teacher.apply(rgb))
              for photo_name, rgb in test.items()}
    record = {"name": name, "source": "lut", "date": time.strftime("%Y-%m-%d"), "lut": Path(lut_path).name, "lut_kind": teacher.kind,
              "lut_size": teacher.size, "iterations": iterations, "owned_colour_channels": owned,
              "seconds": round(seconds, 1),
              "closure_to_lut": {"photos": where, "mean": round(float(np.mean(list(scores.values()))), 4),
                                 "worst": round(float(min(scores.values())), 4)},
              "last_l1_levels": round(float(loss.item()) * 127.5, 3), "command": command}
    description = f"learned from the LUT {Path(lut_path).name} ({teacher.title}) on {record['date']}"
    return (_write_widened(package, model, name, description, record, out, variant_iterations, progress, owned),
            seconds, scores)


MIN_PAIRS = 5
PAIR_LONG_SIDES = (1024, 720, 512)  # each pair at these long sides: crops of one size see faces and skin


class PairsError(ValueError):
    """--before/--after folders that do not make pairs (unmatched names, different sizes, too few)."""


def load_pairs(before_dir, after_dir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pairs matched by file name without extension (``IMG_1.jpg`` and ``IMG_1.png`` pair), RGB uint8.
    Raises :class:`PairsError` listing every unreadable file, every unmatched name and every pair whose sizes differ."""
    # Read as a folder of photos is (EXIF orientation, 16-bit, grey); pairs of any size crop to what they hold.
    (before, skipped_before), (after, skipped_after) = (load_look_photos(before_dir, 1, "--before"),
                                                        load_look_photos(after_dir, 1, "--after"))
    stems_before = {Path(n).stem: n for n in before}
    stems_after = {Path(n).stem: n for n in after}
    problems = [f"skipped {folder}/{name}: {why}" for folder, skipped in ((before_dir, skipped_before),
                                                                          (after_dir, skipped_after))
                for name, why in skipped.items()]
    for side, mine, other, folder in (("before", stems_before, stems_after, before_dir),
                                      ("after", stems_after, stems_before, after_dir)):
        lonely = sorted(mine[s] for s in set(mine) - set(other))
        if lonely:
            problems.append(f"{len(lonely)} in {folder} have no {'after' if side == 'before' else 'before'} "
                            f"photo of the same name: {', '.join(lonely[:10])}{' ...' if len(lonely) > 10 else ''}")
    pairs = {}
    for stem in sorted(set(stems_before) & set(stems_after)):
        a, b = before[stems_before[stem]], after[stems_after[stem]]
        if a.shape != b.shape:
            problems.append(f"{stem}: before is {a.shape[1]}x{a.shape[0]}, after is {b.shape[1]}x{b.shape[0]} "
                            "(a pair must be the same picture at the same size: export both uncropped)")
        else:
            pairs[stem] = (a, b)
    if problems:
        raise PairsError("the photos do not pair up: " + "; ".join(problems))
    if len(pairs) < MIN_PAIRS:
        raise PairsError(f"{len(pairs)} pairs in {before_dir} and {after_dir}; a look needs at least {MIN_PAIRS} "
                         "(20 work well)")
    return pairs


class PairedCrops:
    """Aligned random crops (same place, scale and flip) of before/after pairs, in [-1, 1]."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], crop: int, seed: int):
        import cv2
        self.crop, self.rng = crop, np.random.default_rng(seed)
        self.levels = []
        for before, after in pairs:
            for side in PAIR_LONG_SIDES:
                scale = min(1.0, side / max(before.shape[:2]))
                size = (round(before.shape[1] * scale), round(before.shape[0] * scale))
                if min(size) < crop:
                    continue
                resize = (lambda im: im) if scale == 1.0 else (
                    lambda im: cv2.resize(im, size, interpolation=cv2.INTER_AREA))
                self.levels.append((resize(before), resize(after)))
                if scale == 1.0:
                    break
        if not self.levels:
            raise PairsError(f"no pair is at least {crop} px on its short side")

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        from trainer.data import _to_tensor
        xs, ys = [], []
        for _ in range(batch):
            before, after = self.levels[self.rng.integers(len(self.levels))]
            y = self.rng.integers(before.shape[0] - self.crop + 1)
            x = self.rng.integers(before.shape[1] - self.crop + 1)
            a, b = before[y:y + self.crop, x:x + self.crop], after[y:y + self.crop, x:x + self.crop]
            if self.rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            xs.append(a)
            ys.append(b)
        return _to_tensor(xs), _to_tensor(ys)


def _rgb_out(model: Generator, rgb: np.ndarray, style: torch.Tensor) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        y = model(x, style).clamp(-1, 1)
    return ((y + 1) * 127.5).round().squeeze(0).permute(1, 2, 0).numpy().astype(np.uint8)


def add_style_from_pairs(package_path, name: str, before_dir, after_dir, out, iterations: int = 1000,
                         lr: float = 0.02, batch: int = 8, crop: int = 128, adv_weight: float = 0.05, seed: int = 0,
                         command: str = "", progress: bool = True, variant_iterations: int = VARIANT_ITERATIONS,
                         owned: int = 0):
    """Learn a look from before/after pairs: a paired L1 loss on aligned crops next to a light adversarial
    one (a one-style patch critic on the after photos), training only the new style's column as
    :func:`add_style` does, plus ``owned`` colour-head channels of its own if asked (:func:`grow_colour_head`).
    Every fifth pair (at least one) is held out and measures the result: returns (package, seconds, closure per held-out pair, ``closure = 1 - MAE(out, after) / MAE(before, after)``)."""
    from trainer.closure import closure, eval_size

    package = load_package(package_path)
    if name in package.style_names:
        raise ValueError(f"style {name!r} is already in {package.path} ({', '.join(package.style_names)}); "
                         "pick another --name")
    pairs = load_pairs(before_dir, after_dir)
    names = sorted(pairs)
    held_out = names[::5]
    train_pairs = [pairs[n] for n in names if n not in held_out]
    base = generator_from_package(package)
    n = base.config.num_styles
    # Start from the existing style whose output is nearest the after photos (paired L1, small copies).
    small = [(eval_size(a, 256), eval_size(b, 256)) for a, b in train_pairs]
    gaps = [np.mean([np.abs(_rgb_out(base, a, torch.eye(n)[k].view(1, n, 1, 1)).astype(np.int16) - b).mean()
                     for a, b in small]) for k in range(n)]
    start_from = int(np.argmin(gaps))
    model, owned = widen_owning(base, start_from, owned, seed)
    new = model.config.num_styles - 1
    torch.manual_seed(seed)
    params = new_style_parameters(model, owned)
    data = PairedCrops(train_pairs, crop, seed)
    preview = Preview(preview_path(out))
    critic = PatchDiscriminator(1)
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations, eta_min=lr * 0.05)
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.99))
    style = torch.zeros(batch, new + 1, 1, 1)
    style[:, new] = 1.0
    judge_index = torch.zeros(batch, dtype=torch.long)
    bar = _progress_bar(iterations, "add-style (pairs)") if progress else None
    live = LiveEstimate()
    start = time.time()
    model.train()
    l1 = None
    for it in range(iterations):
        x, y = data.sample(batch)
        fake = model(x, style)
        if adv_weight:
            d_loss = losses.lsgan_d(critic(y, judge_index), critic(fake.detach(), judge_index))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        l1 = (fake - y).abs().mean()
        toward_look = live.update(x, fake, y)
        loss = l1 + (adv_weight * losses.lsgan_g(critic(fake, judge_index)) if adv_weight else 0.0)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"non-finite loss at iteration {it + 1}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clamp_owned_outputs(model, owned)
        schedule.step()
        preview.maybe(model)
        if bar is not None:
            bar.set_postfix(toward_look=f"{toward_look:.3f}", l1=f"{l1.item() * 127.5:.2f} levels")
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.time() - start
    model.eval()
    preview.write(model)
    scores = {}
    for stem in held_out:
        before, after = (eval_size(im) for im in pairs[stem])
        scores[stem] = closure(_rgb_out(model, before, style[:1]), before, after)
    record = {"name": name, "source": "pairs", "date": time.strftime("%Y-%m-%d"), "pairs": len(names),
              "held_out": held_out, "iterations": iterations, "owned_colour_channels": owned,
              "seconds": round(seconds, 1),
              "started_from": package.style_names[start_from],
              "closure_held_out": {"mean": round(float(np.mean(list(scores.values()))), 4),
                                   "worst": round(float(min(scores.values())), 4)},
              "last_l1_levels": round(l1.item() * 127.5, 3), "command": command}
    description = f"learned from {len(names)} before/after pairs on {record['date']}"
    return (_write_widened(package, model, name, description, record, out, variant_iterations, progress, owned),
            seconds, scores)


# -- a look the shipped model has never seen, for the add-style demonstration -------------------

def demo_look_photos(out_dir, count: int = 30, seed: int = 0, look: str = "warm_film") -> Path:
    """``count`` crops restyled by ``look`` (warm_film: its grain seeded per crop) of the photo corpus's
    train-look photos (never its content or test photos), or of the bundled look-side photos without the corpus
    (never content, never held out)."""
    import cv2
    from trainer import corpus
    from trainer.looks import get_look
    restyle = (lambda crop, i: warm_film(crop, seed + i)) if look == "warm_film" else (
        lambda crop, i, filter_=get_look(look): filter_(crop))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = (list(corpus.load("train-look", max_side=CORPUS_LONG_SIDE).values()) if corpus.available()
               else photos.load_set(photos.STYLE))
    for i in range(count):
        image = sources[i % len(sources)]
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = cv2.resize(image[y:y + side, x:x + side], (256, 256), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out_dir / f"look_{i:02d}.png"), restyle(crop, i)[:, :, ::-1])
    return out_dir


def demo_pairs(out_dir, look: str = "warm_film", long_side: int = 1024) -> tuple[Path, Path]:
    """Before/after pairs for a demonstration: the photo corpus's training and validation photos (never its
    test split) at ``long_side``, and the same photos through ``look`` (``warm_film``: a colour grade;
    ``soft_skin``: a local look), written to OUT/before and OUT/after. Needs the corpus (`photos fetch`)."""
    import cv2
    from trainer import corpus
    from trainer.looks import get_look

    filter_ = get_look(look)
    before_dir, after_dir = Path(out_dir) / "before", Path(out_dir) / "after"
    for folder in (before_dir, after_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in corpus.load(("train-content", "train-look", "val"), max_side=long_side).items():
        cv2.imwrite(str(before_dir / f"{name}.png"), rgb[:, :, ::-1])
        cv2.imwrite(str(after_dir / f"{name}.png"), filter_(rgb)[:, :, ::-1])
    return before_dir, after_dir
