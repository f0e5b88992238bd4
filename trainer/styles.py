"""Manage the looks in a package: list them with their provenance, rename one, remove one.

Renaming touches only the manifest (the ONNX files know styles by index), so every file and checksum
stays as it was. Removing a style drops its column from every per-style scale/shift and rebuilds the
FP32 file; the other styles compute exactly what they did. The compressed variants (pruned, FP16,
INT8) carry the column too and are dropped with a message naming the commands that remake them.
"""
from __future__ import annotations

import copy
from pathlib import Path


from sdk.package import ModelPackage, load_package, write_package
from trainer.export import package_files


def provenance(package: ModelPackage) -> list[dict]:
    """One row per style: name, index, source ("shipped", "photos" or "lut"), and what it was learned from."""
    added = {record["name"]: record for record in package.manifest.get("added_styles", [])}
    train = package.manifest.get("trainer", {}).get("config", {}).get("train", {})
    card = package.manifest.get("model_card", {})
    shipped = (f"trained with the package: {train.get('iterations', '?')} iterations, data {train.get('data', '?')}"
               + (f" ({card['trained_on'].split(' (')[0]})" if card.get("trained_on") else ""))
    rows = []
    for style in package.styles:
        record = added.get(style.name)
        if record is None:
            rows.append({"name": style.name, "index": style.index, "source": "shipped", "detail": shipped})
            continue
        source = record.get("source", "photos")
        if source == "lut":
            detail = (f"LUT {record['lut']} ({record['lut_kind']}, {record['lut_size']} points), "
                      f"{record['iterations']} iterations")
        elif source == "pairs":
            held_out = record.get("closure_held_out", {})
            detail = f"{record.get('pairs', '?')} before/after pairs, {record['iterations']} iterations"
            if held_out:
                detail += f", closure {held_out['mean']:.2f} on the held-out pairs"
        else:
            detail = f"{record.get('photos', '?')} photos, {record.get('runs', 1)} runs x {record['iterations']} iterations"
            if record.get("grade_teacher"):
                detail += ", grade taught (per-channel levels)"
        if record.get("date"):
            detail += f", {record['date']}"
        rows.append({"name": style.name, "index": style.index, "source": source, "detail": detail})
    return rows


def _rest_of_manifest(package: ModelPackage) -> dict:
    return {k: copy.deepcopy(v) for k, v in package.manifest.items() if k not in ("format", "format_version", "files")}


def rename(package_path, old: str, new: str) -> ModelPackage:
    package = load_package(package_path)
    names = package.style_names
    if old not in names:
        raise ValueError(f"{package.path} has no style {old!r}; it has {', '.join(names)}")
    if new in names:
        raise ValueError(f"{package.path} already has a style {new!r}; pick another name")
    if not new or not new.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"style name {new!r}: use letters, digits, '-' and '_'")
    manifest = _rest_of_manifest(package)
    for style in manifest["styles"]:
        if style["name"] == old:
            style["name"] = new
    for record in manifest.get("added_styles", []):
        if record["name"] == old:
            record["name"] = new
    return write_package(package.path, package_files(package), manifest)


def _without_idle_colour_channels(state: dict) -> dict:
    """Drop the colour-head channels that no style switches on (scale and shift exactly 0 for every
    style: the channel computes relu(0) = 0), which a removed style owned (add-style's grow_colour_head)."""
    if "colour_pixel.weight" not in state:
        return state
    scale = 1 + state["colour_affine.to_gamma.bias"][:, None] + state["colour_affine.to_gamma.weight"][:, :, 0, 0]
    shift = state["colour_affine.to_beta.bias"][:, None] + state["colour_affine.to_beta.weight"][:, :, 0, 0]
    active = ((scale != 0) | (shift != 0)).any(dim=1)
    if bool(active.all()):
        return state
    state = dict(state)
    for key in ("colour_pixel.weight", "colour_pixel.bias", "colour_context.weight", "colour_affine.to_gamma.weight",
                "colour_affine.to_gamma.bias", "colour_affine.to_beta.weight", "colour_affine.to_beta.bias"):
        state[key] = state[key][active]
    state["colour_out.weight"] = state["colour_out.weight"][:, active]
    return state


def remove(package_path, name: str) -> tuple[ModelPackage, list[str]]:
    """Drop style ``name``; returns the package and the compressed variant files that were dropped."""
    from trainer.export import check_against_onnxruntime, generator_from_package, resize_convs, to_onnx
    from trainer.models.generator import Generator, GeneratorConfig, is_style_column_weight

    package = load_package(package_path)
    names = list(package.style_names)
    if name not in names:
        raise ValueError(f"{package.path} has no style {name!r}; it has {', '.join(names)}")
    if len(names) == 1:
        raise ValueError(f"{name!r} is the only style of {package.path}; a package needs at least one")
    index = names.index(name)
    base = generator_from_package(package)
    config = GeneratorConfig(**{**base.config.to_dict(), "num_styles": len(names) - 1})
    keep = [i for i in range(len(names)) if i != index]
    state = {}
    for key, value in base.state_dict().items():
        state[key] = value[:, keep] if is_style_column_weight(key) else value  # style columns
    state = _without_idle_colour_channels(state)  # the removed style's own channels (add-style) go with it
    model = Generator(config).deploy()
    resize_convs(model, {k: tuple(v.shape) for k, v in state.items() if k.endswith(".weight")})
    model.load_state_dict(state)
    model.eval().requires_grad_(False)
    remaining = [n for n in names if n != name]
    blob = to_onnx(model)
    max_diff = check_against_onnxruntime(model, blob, remaining)
    manifest = _rest_of_manifest(package)
    manifest["styles"] = [{**s, "index": i} for i, s in enumerate(s for s in manifest["styles"] if s["name"] != name)]
    manifest["style_input"]["shape"] = [1, len(remaining), 1, 1]
    manifest["model"]["config"] = model.config.to_dict()
    manifest["model"]["onnxruntime_max_abs_diff"] = max_diff
    manifest["added_styles"] = [r for r in manifest.get("added_styles", []) if r["name"] != name]
    fp32 = package.manifest["precisions"]["fp32"]
    dropped = sorted(f for f in package.manifest["files"] if f != fp32)
    manifest["precisions"] = {"fp32": fp32}
    # Measured with the removed style, or (lean) files that serve a prefix of the old style list: no longer true.
    for key in ("variants", "compression", "quality", "lean"):
        manifest.pop(key, None)
    written = write_package(package.path, {fp32: blob}, manifest)
    for stale in dropped:
        (Path(package.path) / stale).unlink(missing_ok=True)
    return written, dropped
