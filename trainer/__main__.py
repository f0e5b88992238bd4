"""python -m trainer {info,train,export,evaluate}

  info     parameters and MACs of the generator at 640x360 and 1280x720
  train    GAN training from a TOML config (see trainer/configs/default.toml)
  export   checkpoint -> model package (ONNX + manifest), verified against ONNX Runtime
  evaluate distance to each look on held-out photos, for a package
  prune    structured channel pruning to a MACs target + distillation -> pruned variants in a package
  quantize FP16 and INT8 (static, QDQ) variants of every FP32 variant in a package
  compress-report  every variant's size, MACs, CPU latency and fidelity (Markdown + PNG)
  export-lut  a style's colour mapping as a .cube 3D LUT for other apps, with how much of the look it holds
  photos   fetch: build the corpus of real photos (Debian wallpaper packages, scikit-image) in a cache
"""
from __future__ import annotations

import argparse
import shlex
import sys


OWN_CHANNELS_HINT = ("to learn it closer, give it colour channels of its own: --own-channels 8 (the new style "
                     "then runs about 20% slower on the CPU)")


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="python -m trainer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="parameters and MACs per frame", formatter_class=fmt)
    info.add_argument("--config", default="trainer/configs/default.toml", help="TOML config ([model] section)")

    train = sub.add_parser("train", help="train a multi-style generator", formatter_class=fmt)
    train.add_argument("--config", required=True, help="TOML config file")
    train.add_argument("--run", "--run-dir", dest="run", default="runs/default",
                       help="run folder: checkpoints, samples, config (spell it --run-dir under torchrun, "
                            "whose own --run-path option would take --run)")
    train.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    train.add_argument("--iterations", type=int, default=None, help="override [train] iterations")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one [train] value (TOML syntax), e.g. --set temporal_weight=0; repeatable")
    train.add_argument("--vgg-weights", default=None,
                       help="torchvision VGG-16 state dict (.pth) for a perceptual content loss; "
                            "without it the structure (SSIM) loss is used, which needs no download")
    train.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")

    export = sub.add_parser("export", help="checkpoint -> model package", formatter_class=fmt)
    export.add_argument("--checkpoint", default="runs/default/checkpoint.pt")
    export.add_argument("--out", default="sdk/models/default", help="package folder to write")
    export.add_argument("--name", default="default")

    ev = sub.add_parser("evaluate", help="report: look distance, content, temporal stability, speed",
                        formatter_class=fmt)
    ev.add_argument("--package", action="append", default=None,
                    help="package folder (default: the shipped one); repeat to compare several in one report")
    ev.add_argument("--label", action="append", default=None, help="a name per --package, in order")
    ev.add_argument("--photos", default=None, help="folder of test photos (default: the held-out bundled photos)")
    ev.add_argument("--look-photos", default=None,
                    help="folder of photos in a look without a reference filter (feature-statistics distance)")
    ev.add_argument("--temporal", type=float, default=0.0, help="run-time temporal smoothing while evaluating")
    ev.add_argument("--out", default="runs/evaluate", help="folder for report.md, report.json and PNG grids")
    ev.add_argument("--looks-only", action="store_true",
                    help="only the looks table (closure against classical baselines) and the contact sheet")
    ev.add_argument("--check-bars", action="store_true", help="exit 1 when a look misses a bar of the looks table")
    ev.add_argument("--sheet-copy", default=None, metavar="JPG",
                    help="also write a small copy of the contact sheet (under 300 KB) here, e.g. docs/looks.jpg")
    ev.add_argument("--corpus", default=None, help="photo corpus folder (default: the cache of `photos fetch`)")
    prune = sub.add_parser("prune", help="pruned + distilled variants", formatter_class=fmt)
    prune.add_argument("--package", default=None, help="package folder (default: the shipped one)")
    prune.add_argument("--out", default=None, help="package folder to write (default: --package, in place)")
    prune.add_argument("--macs", type=float, action="append", required=True,
                       help="target fraction of the MACs at 1280x720; repeat for several (e.g. --macs 0.5 --macs 0.25)")
    prune.add_argument("--iterations", type=int, default=600, help="distillation iterations per target")

    quantize = sub.add_parser("quantize", help="FP16 and INT8 variants", formatter_class=fmt)
    quantize.add_argument("--package", default=None)
    quantize.add_argument("--out", default=None, help="package folder to write (default: --package, in place)")

    add = sub.add_parser("add-style", help="learn a new style into an existing package", formatter_class=fmt)
    add.add_argument("--package", default=None, help="package folder (default: the shipped one)")
    add.add_argument("--name", required=True, help="name of the new style")
    add.add_argument("--photos", default=None, help="folder of 20-50 photos in the new look")
    add.add_argument("--lut", default=None, metavar="FILE.cube",
                     help="a .cube LUT (3D, or 1D curves) to learn as the new look, instead of --photos")
    add.add_argument("--before", default=None, metavar="DIR",
                     help="folder of originals, paired by file name with --after: learn from before/after pairs")
    add.add_argument("--after", default=None, metavar="DIR", help="folder of the same photos edited in the look")
    add.add_argument("--content", default=None, help="folder of ordinary photos (default: the photo corpus's "
                                                      "train-content photos once fetched, else the bundled ones)")
    add.add_argument("--out", required=True, help="package folder to write (N+1 styles)")
    add.add_argument("--iterations", type=int, default=None,
                     help="iterations per run (default: 600 from photos, 1000 from pairs, 1500 from a LUT)")
    add.add_argument("--own-channels", type=int, default=0, metavar="N",
                     help="from pairs or a LUT: give the new style N colour-head channels of its own (8 learn a "
                          "strong LUT to 0.96 closure instead of 0.93), at a cost: the new style runs about 20%% "
                          "slower on the CPU (the old ones keep their speed on ONNX Runtime). 0 keeps every "
                          "style as fast as before")
    add.add_argument("--runs", type=int, default=4,
                     help="independent runs (different seeds) whose new-style parameters are averaged")
    add.add_argument("--demo-pairs", default=None, metavar="DIR",
                     help="first write before/after pairs of the photo corpus's training and validation photos in "
                          "--demo-look into DIR/before and DIR/after, and learn from them")
    add.add_argument("--demo-look", default="warm_film", choices=("warm_film", "warm_grade", "soft_skin", "ink_sketch"),
                     help="the look of --demo-pairs and --demo-photos: a colour grade with film grain, the same "
                          "grade without grain, or a local look (skin smoothing; an ink sketch)")
    add.add_argument("--demo-photos", default=None, metavar="DIR",
                     help="first write 30 crops of the corpus's train-look photos (bundled ones without the corpus), "
                          "restyled by --demo-look, into DIR (a look the shipped model never saw) and use them as "
                          "--photos")
    add.add_argument("--no-grade-teacher", dest="grade_teacher", action="store_false",
                     help="from --photos: learn from the unpaired terms alone, without the colour grade estimated "
                          "from the two photo sets (per-channel levels) as a teacher: for a look that is not a "
                          "colour grade")

    photos_cmd = sub.add_parser("photos", help="the corpus of real photos for training and evaluation",
                                formatter_class=fmt)
    photos_cmd.add_argument("action", choices=["fetch", "list"], help="fetch: build it; list: print its manifest")
    photos_cmd.add_argument("--out", default=None, help="corpus folder (default: $STYLIZER_CACHE/photos, "
                                                        "else ~/.cache/stylizer/photos)")

    lut = sub.add_parser("export-lut", help="a style's colour mapping as a .cube 3D LUT (editors, ffmpeg, OBS)",
                         formatter_class=fmt)
    lut.add_argument("--style", required=True, help="style name of the package")
    lut.add_argument("-o", "--out", required=True, help="the .cube file to write")
    lut.add_argument("--package", default=None, help="model package folder (default: the shipped one)")
    lut.add_argument("--size", type=int, default=33, help="lattice points per axis (2..65)")
    lut.add_argument("--corpus", default=None, help="photo corpus folder for the closure figure (default: the cache)")
    looks = sub.add_parser("styles", help="list, rename or remove the styles of a package (checksums kept valid)",
                           formatter_class=fmt)
    looks.add_argument("action", choices=["list", "rename", "remove"])
    looks.add_argument("names", nargs="*", help="rename: OLD NEW; remove: NAME")
    looks.add_argument("--package", default="sdk/models/default", help="package folder (changed in place)")
    card = sub.add_parser("model-card", help="write the model card (training data, licences, use, limits) into a "
                          "package's manifest", formatter_class=fmt)
    card.add_argument("--package", default="sdk/models/default")
    card.add_argument("--corpus", default=None, help="photo corpus folder (default: the cache)")
    report = sub.add_parser("compress-report", help="table + plot of every variant", formatter_class=fmt)
    report.add_argument("--package", default=None)
    report.add_argument("--out", default="reports", help="folder for compress.md/.png/.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command_line = "python -m trainer " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    if args.command == "info":
        from trainer.models.generator import Generator, count_macs, count_parameters
        from trainer.train import TrainConfig

        cfg = TrainConfig.from_toml(args.config)
        model = Generator(cfg.model).deploy()
        print(f"generator: {cfg.model}")
        print(f"styles: {', '.join(cfg.styles)}")
        print(f"parameters (deploy, BatchNorm folded): {count_parameters(model):,}")
        for w, h in ((640, 360), (1280, 720)):
            print(f"MACs per {w}x{h} frame: {count_macs(model, h, w) / 1e9:.3f} G")
        return 0
    if args.command == "train":
        from trainer.train import TrainConfig, train

        import tomllib

        overrides = {"iterations": args.iterations} if args.iterations else {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. --set temporal_weight=0")
            overrides[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        cfg = TrainConfig.from_toml(args.config, overrides)
        result = train(cfg, args.run, resume=args.resume, vgg_weights=args.vgg_weights, device=args.device)
        last = result["losses"][-1] if result["losses"] else {}
        if result["rank"] == 0:
            print(f"trained to iteration {result['iteration']} in {result['seconds']:.0f} s; last losses {last}; "
                  f"checkpoint {args.run}/checkpoint.pt")
        return 0
    if args.command == "export":
        from trainer import evaluate
        from trainer.export import export_package

        package = export_package(args.checkpoint, args.out, name=args.name, command=command_line)
        print(f"wrote {package.path}: styles {', '.join(package.style_names)}; "
              f"ONNX Runtime vs PyTorch max abs diff {package.manifest['model']['onnxruntime_max_abs_diff']:.2e}")
        if "quality" in package.manifest:
            print(evaluate.markdown(package.manifest["quality"]["look_psnr_held_out"]))
        return 0
    if args.command == "evaluate":
        from trainer import evaluate, photos

        packages = args.package or [None]
        labels = args.label or [str(p or "shipped") for p in packages]
        if len(labels) != len(packages):
            raise SystemExit(f"give one --label per --package ({len(packages)} packages, {len(labels)} labels)")
        from trainer import closure

        failed = []
        for index, package in enumerate(packages):
            out = args.out if len(packages) == 1 else f"{args.out}/looks_{index}"
            table, text = evaluate.looks_report(package, out, args.corpus,
                                                small_copy=args.sheet_copy if index == 0 else None)
            print(f"## Looks: {labels[index]}\n\n{text}\n")
            failed += [f"{labels[index]}: {style} {name}" for style, entry in table.items()
                       for name, ok in closure.passes(style, entry).items() if not ok]
        if args.looks_only:
            if args.check_bars and failed:
                print("bars missed: " + "; ".join(failed), file=sys.stderr)
                return 1
            return 0
        images = (evaluate.load_folder(args.photos) if args.photos
                  else {n: photos.load_photo(n) for n in photos.HELD_OUT})
        look_photos = list(evaluate.load_folder(args.look_photos).values()) if args.look_photos else None
        results = [(label, package or "sdk/models/default",
                    evaluate.evaluate_package(package, images, look_photos, temporal=args.temporal))
                   for label, package in zip(labels, packages)]
        report = evaluate.write_report(results, images, args.out, command=command_line)
        print(report.read_text().split("\n\n## ")[0])
        print(f"wrote {report}")
        if args.check_bars and failed:
            print("bars missed: " + "; ".join(failed), file=sys.stderr)
            return 1
        return 0
    if args.command in ("prune", "quantize"):
        from sdk.package import DEFAULT_PACKAGE
        from trainer import compress

        out = args.out or args.package or DEFAULT_PACKAGE
        if args.command == "prune":
            package = compress.prune_package(args.package, out, args.macs, args.iterations, command=command_line)
        else:
            package = compress.quantize_package(args.package, out, command=command_line)
        for name, v in package.manifest["variants"].items():
            fid = v.get("fidelity", {})
            print(f"{name:16s} {v['file']:28s} CPU 640x360 {v.get('cpu_ms_640x360', float('nan')):6.2f} ms  "
                  f"PSNR vs FP32 {fid.get('psnr_db', float('nan')):6.2f} dB  passes floor: {v.get('passes_floor')}")
        print(f"wrote {package.path}")
        return 0
    if args.command == "add-style":
        from trainer import add_style, grade_prior
        from trainer.lut import LutError

        args.photos = args.photos or args.demo_photos
        iterations = {"iterations": args.iterations} if args.iterations else {}  # else each path's own default
        if args.own_channels < 0 or args.own_channels > 64:
            print(f"error: --own-channels {args.own_channels}: expected 0 to 64 (8 is a good choice)", file=sys.stderr)
            return 2
        if args.own_channels and args.lut is None and args.before is None and not args.demo_pairs:
            print("error: --own-channels applies to --before/--after and --lut (a paired teacher); from --photos "
                  "alone the unpaired signal, not capacity, is what limits the look", file=sys.stderr)
            return 2
        if not args.grade_teacher and (args.lut is not None or args.before is not None or args.demo_pairs):
            print("error: --no-grade-teacher applies to --photos (pairs and a LUT are their own teachers)",
                  file=sys.stderr)
            return 2
        if args.runs < 1:
            print(f"error: --runs {args.runs}: need at least 1 training run to average (the default is 4)",
                  file=sys.stderr)
            return 2
        if args.demo_pairs:
            args.before, args.after = (str(d) for d in add_style.demo_pairs(args.demo_pairs, args.demo_look))
        if (args.before is None) != (args.after is None):
            print("error: --before and --after go together (two folders of the same photos, by file name)",
                  file=sys.stderr)
            return 2
        if sum(x is not None for x in (args.lut, args.photos, args.before)) != 1:
            print("error: give the new look as --photos DIR, --before DIR --after DIR, or --lut FILE.cube "
                  "(one of them)", file=sys.stderr)
            return 2
        if args.before is not None:
            try:
                package, _, scores = add_style.add_style_from_pairs(args.package, args.name, args.before, args.after,
                                                                    args.out, command=command_line,
                                                                    owned=args.own_channels, **iterations)
            except (FileNotFoundError, ValueError) as exc:  # PairsError, a duplicate name, a missing folder
                print(f"error: {exc}", file=sys.stderr)
                return 1
            added = package.manifest["added_styles"][-1]
            print(f"wrote {package.path}: styles {', '.join(package.style_names)} ({added['seconds']:.0f} s of training); "
                  f"preview {add_style.preview_path(args.out)}")
            print(f"closure on {len(scores)} held-out pairs ({', '.join(scores)}): "
                  f"mean {added['closure_held_out']['mean']:.2f}, worst {added['closure_held_out']['worst']:.2f}")
            if not args.own_channels:
                print(OWN_CHANNELS_HINT)
            return 0
        if args.lut is not None:
            try:
                package, _, _ = add_style.add_style_from_lut(args.package, args.name, args.lut, args.out,
                                                             command=command_line, owned=args.own_channels,
                                                             **iterations)
            except LutError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            added = package.manifest["added_styles"][-1]
            record = added["closure_to_lut"]
            print(f"wrote {package.path}: styles {', '.join(package.style_names)} ({added['seconds']:.0f} s of training); "
                  f"preview {add_style.preview_path(args.out)}")
            print(f"closure to the LUT on {record['photos']}: mean {record['mean']:.2f}, worst {record['worst']:.2f}")
            if not args.own_channels:
                print(OWN_CHANNELS_HINT)
            return 0
        if args.demo_photos:
            add_style.demo_look_photos(args.demo_photos, look=args.demo_look)
        try:
            package, seconds = add_style.add_style(args.package, args.name, args.photos, args.out, args.content,
                                                   command=command_line, runs=args.runs,
                                                   grade_teacher=args.grade_teacher, **iterations)
        except (FileNotFoundError, ValueError) as exc:  # a missing folder, too few photos, a duplicate name
            print(f"error: {exc}", file=sys.stderr)
            return 1
        added = package.manifest["added_styles"][-1]
        for file, why in added.get("skipped", {}).items():
            print(f"skipped {file}: {why}")
        if added.get("grade_teacher"):
            levels = added["grade_teacher"]
            print("grade taught (per-channel levels from the plain photos to yours, 0-255): " + ", ".join(
                f"{c} x{a:.2f} {b:+.1f}" for c, a, b in zip("RGB", levels["slope"], levels["offset"])))
            if added["detail_ratio"] > grade_prior.GRADE_DETAIL_MAX:
                print(f"note: your photos hold {added['detail_ratio']:.1f}x the fine detail of the plain photos "
                      "graded alike: the look draws lines or texture, it is not only a colour grade, and the grade "
                      "taught holds such a look back a little. Add it with --no-grade-teacher, or from before/after "
                      "pairs.")
        print(f"wrote {package.path}: styles {', '.join(package.style_names)} ({seconds:.0f} s of training); "
              f"preview {add_style.preview_path(args.out)} (unseen photos: original | {args.name})")
        return 0
    if args.command == "photos":
        import json
        from pathlib import Path

        from trainer import corpus

        try:
            if args.action == "fetch":
                corpus.fetch(args.out)
            else:
                root = Path(args.out) if args.out else corpus.cache_dir()
                if not corpus.available(root):
                    raise corpus.CorpusError(f"no photo corpus at {root}: run `python -m trainer photos fetch`")
                for r in json.loads((root / "manifest.json").read_text())["photos"]:
                    print(f"{r['split']:14s} {r['id']:44s} {r['licence']:16s} {r['source']}")
        except corpus.CorpusError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "export-lut":
        return _export_lut(args)
    if args.command == "styles":
        return _styles(args)
    if args.command == "model-card":
        from trainer import corpus, model_card

        try:
            package = model_card.write(args.package, args.corpus)
        except corpus.CorpusError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        from sdk.package import describe_model_card
        print(describe_model_card(package.manifest["model_card"]))
        print(f"wrote {package.path / 'manifest.json'}")
        return 0
    if args.command == "compress-report":
        from trainer import compress

        print(compress.report(args.package, args.out))
        print(f"wrote {args.out}/compress.md, compress.png, compress.json")
        return 0
    return 2


def _styles(args) -> int:
    from sdk.errors import StylizerError
    from trainer import styles

    wanted = {"list": 0, "rename": 2, "remove": 1}[args.action]
    if len(args.names) != wanted:
        usage = {"list": "styles list", "rename": "styles rename OLD NEW", "remove": "styles remove NAME"}
        print(f"error: expected `{usage[args.action]}`; got {len(args.names)} names", file=sys.stderr)
        return 2
    try:
        if args.action == "list":
            from sdk.package import load_package
            for row in styles.provenance(load_package(args.package)):
                print(f"{row['index']}  {row['name']:<12} {row['source']:<8} {row['detail']}")
            return 0
        if args.action == "rename":
            package = styles.rename(args.package, *args.names)
            print(f"renamed {args.names[0]} to {args.names[1]} in {package.path}: {', '.join(package.style_names)}")
            return 0
        package, dropped = styles.remove(args.package, args.names[0])
    except (ValueError, StylizerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(f"removed {args.names[0]} from {package.path}: {', '.join(package.style_names)}")
    if dropped:
        print(f"dropped the compressed variants ({', '.join(dropped)}): they held the removed style; remake them "
              f"with `python -m trainer prune --package {args.package} --macs 0.5 --macs 0.25` and "
              f"`python -m trainer quantize --package {args.package}`", file=sys.stderr)
    return 0


def _export_lut(args) -> int:
    import sdk
    from sdk.errors import StylizerError
    from trainer import evaluate, lut

    if not 2 <= args.size <= lut.MAX_SIZE_3D:
        print(f"error: --size {args.size}: expected 2..{lut.MAX_SIZE_3D} lattice points per axis (33 is the common choice)",
              file=sys.stderr)
        return 2
    if not args.out.lower().endswith(".cube"):
        print(f"error: --out {args.out}: a LUT is written as a .cube file", file=sys.stderr)
        return 2
    try:
        with sdk.Stylizer(args.package, backend="onnxruntime", color_order="rgb") as stylizer:
            stylizer.style_vector(args.style)  # an unknown name fails here, before the work
            table = lut.bake(stylizer, args.style, args.size)
            photos, _, _, where = evaluate.looks_sets(args.corpus)
            scores = lut.lut_closure(table, lambda rgb: stylizer(rgb, style=args.style), photos)
    except StylizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    path = lut.write_cube(args.out, table, f"stylizer {args.style}")
    mean = sum(scores.values()) / len(scores)
    worst = min(scores, key=scores.get)
    print(f"wrote {path} ({args.size}^3 lattice)")
    print(f"closure of the LUT to the model on {where}: mean {mean:.2f}, worst {scores[worst]:.2f} ({worst}); "
          "1 = the LUT is the model")
    if mean < 0.8:
        print(f"warning: the LUT holds {mean:.0%} of what {args.style!r} does to these photos: the look is mostly "
              "local (lines, ink, smoothing, bloom), which a LUT cannot draw", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
