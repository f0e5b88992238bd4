"""One add-style training run, scored on validation and on held-out photos (the sweep behind
the add-style defaults in the README).

    python -m benchmarks.add_style_sweep --seed 0 --moment 0.5 --ema 0.999

Validation: the PSNR gain toward ``warm_film`` on the six *content* photos (the generator sees
them in training, never their filtered versions). Held out: the same on ``photos.HELD_OUT``, which
training never sees. Hyper-parameters are chosen on validation only. The model runs in PyTorch at
each photo's own size (rounded to the stride): a quick check, not the SDK path that
``python -m trainer evaluate`` measures. One JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch

from sdk.package import load_package
from trainer import add_style, photos
from trainer.export import generator_from_package
from trainer.data import UnpairedCrops
from trainer.evaluate import load_folder
from trainer.looks import warm_film


def gain_db(model, names: tuple[str, ...]) -> float:
    n = model.config.num_styles
    style = torch.eye(n)[n - 1].view(1, n, 1, 1)
    gains = []
    for image in photos.load_set(names):
        h, w = image.shape[:2]
        x = torch.from_numpy(cv2.resize(image, (w // 4 * 4, h // 4 * 4)).astype(np.float32) / 127.5 - 1)
        with torch.no_grad():
            y = model(x.permute(2, 0, 1)[None], style)[0].permute(1, 2, 0).numpy()
        out = cv2.resize(((y + 1) * 127.5).clip(0, 255).round().astype(np.uint8), (w, h))
        target = warm_film(image).astype(np.float64)
        psnr = [10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - target) ** 2)) for a in (out, image)]
        gains.append(psnr[0] - psnr[1])
    return round(float(np.mean(gains)), 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--look", default="runs/add_style/look", help="look photos (written with --demo-photos if missing)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--moment", type=float, default=0.5)
    p.add_argument("--ema", type=float, default=0.999)
    args = p.parse_args()
    torch.set_num_threads(1)  # two runs side by side on a 2-core machine
    try:
        look = list(load_folder(args.look).values())
    except (FileNotFoundError, ValueError):
        look = list(load_folder(add_style.demo_look_photos(args.look)).values())
    content = add_style.bundled_content()
    base = generator_from_package(load_package())
    data = UnpairedCrops(content, [look], 128, args.seed)
    start = add_style.closest_style(base, data)
    model = add_style.widen(base, start)
    began = time.time()
    add_style.train_new_style(model, data, iterations=args.iterations, seed=args.seed, progress=False,
                              moment_weight=args.moment, ema_decay=args.ema)
    model.eval()
    print(json.dumps({**vars(args), "started_from": start, "seconds": round(time.time() - began),
                      "validation_gain_db": gain_db(model, photos.CONTENT),
                      "held_out_gain_db": gain_db(model, photos.HELD_OUT)}))


if __name__ == "__main__":
    main()
