"""The model package: the only thing that crosses from the trainer to the SDK.

A package is a folder::

    manifest.json      format version, styles, input/output contract, resolution policy,
                       per-file sha256, model size, trainer version and command
    generator.onnx     FP32, style vector as an input (one graph serves every style)

Loading is defensive because a model file is code-adjacent: every file's sha256 is
checked *before* anything parses it, the manifest is validated against the schema
below, only ONNX files are accepted (no pickles), and an ONNX that points to
external data is refused. This module both reads and writes packages; the trainer
imports it to write one, and nothing here imports the trainer.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sdk.cache import write_atomic
from sdk.errors import ModelLoadError

FORMAT = "stylizer-model-package"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_PACKAGE = Path(__file__).resolve().parent / "models" / "default"
_ALLOWED_SUFFIXES = (".onnx",)

# field -> expected python type(s); nested objects are checked in _validate.
_SCHEMA = {
    "format": str, "format_version": int, "name": str, "styles": list, "input": dict,
    "style_input": dict, "output": dict, "stride": int, "native_resolution": list,
    "working_resolution": dict, "precisions": dict, "files": dict, "trainer": dict,
}


@dataclass(frozen=True)
class StyleInfo:
    name: str
    index: int
    description: str = ""


@dataclass(frozen=True)
class ModelPackage:
    """A validated package on disk. Construct with :func:`load_package`."""

    path: Path
    manifest: dict

    @property
    def styles(self) -> tuple[StyleInfo, ...]:
        return tuple(StyleInfo(s["name"], s["index"], s.get("description", "")) for s in self.manifest["styles"])

    @property
    def style_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.styles)

    @property
    def stride(self) -> int:
        return self.manifest["stride"]

    @property
    def max_side(self) -> int:
        return self.manifest["working_resolution"]["max_side"]

    @property
    def min_side(self) -> int:
        return self.manifest["working_resolution"]["min_side"]

    def file(self, precision: str = "fp32") -> Path:
        try:
            return self.path / self.manifest["precisions"][precision]
        except KeyError:
            raise ModelLoadError(
                f"package {self.path} has no {precision!r} model; it has "
                f"{sorted(self.manifest['precisions'])}. Ask for one of those precisions.") from None

    @property
    def variants(self) -> dict[str, dict]:
        """Compressed variants recorded by ``python -m trainer prune/quantize`` (empty for older packages)."""
        return self.manifest.get("variants", {})

    def choose_variant(self, precision: str = "auto", variant: str | None = None,
                       runnable: tuple[str, ...] = ("fp32", "fp16", "int8")) -> tuple[str, str, Path]:
        """(variant name, precision, file) for a backend that runs the ``runnable`` precisions.

        ``variant`` names one; otherwise an explicit ``precision`` means the unpruned file of that
        precision, and ``"auto"`` the variant with the lowest recorded CPU latency among those
        that pass their fidelity floor (the FP32 file where the package records no variants).
        """
        variants = self.variants
        if variant is not None:
            if variant not in variants:
                raise ModelLoadError(f"package {self.path} has no variant {variant!r}; it has "
                                     f"{sorted(variants) or ['fp32']}. Run `python -m trainer prune/quantize` "
                                     "to add variants, or leave variant=None.")
            entry = variants[variant]
            if precision not in ("auto", entry["precision"]):
                raise ModelLoadError(f"variant {variant!r} is {entry['precision']}, but precision={precision!r} "
                                     "was asked for; drop one of the two.")
            return variant, entry["precision"], self.path / entry["file"]
        if precision != "auto" or not variants:
            precision = "fp32" if precision == "auto" else precision
            return precision, precision, self.file(precision)
        candidates = [(v["cpu_ms_640x360"], name) for name, v in variants.items()
                      if v.get("passes_floor") and v["precision"] in runnable and "cpu_ms_640x360" in v]
        if not candidates:
            return "fp32", "fp32", self.file("fp32")
        name = min(candidates)[1]
        return name, variants[name]["precision"], self.path / variants[name]["file"]

    def sha256(self, precision: str = "fp32") -> str:
        return self.manifest["files"][self.manifest["precisions"][precision]]["sha256"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _validate(manifest: object, where: Path) -> dict:
    def fail(what: str) -> ModelLoadError:
        return ModelLoadError(f"{where}: invalid manifest: {what}. Re-export the package with "
                              "`python -m trainer export` or restore it from its source.")

    if not isinstance(manifest, dict):
        raise fail(f"expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise fail(f"'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        hint = ("upgrade this SDK (`pip install -U` the project)" if isinstance(version, int) and version > FORMAT_VERSION
                else "re-export the package with this version's `python -m trainer export`")
        raise ModelLoadError(f"{where}: package format version {version!r}, this SDK reads version "
                             f"{FORMAT_VERSION}; {hint}.")
    for key, typ in _SCHEMA.items():
        if key not in manifest:
            raise fail(f"missing field {key!r}")
        if not isinstance(manifest[key], typ) or (typ is int and isinstance(manifest[key], bool)):
            raise fail(f"field {key!r} is {type(manifest[key]).__name__}, expected {typ.__name__}")
    styles = manifest["styles"]
    if not styles:
        raise fail("no styles")
    for i, s in enumerate(styles):
        if not (isinstance(s, dict) and isinstance(s.get("name"), str) and s.get("index") == i):
            raise fail(f"styles[{i}] must be {{'name': str, 'index': {i}}}, got {s!r}")
    wr = manifest["working_resolution"]
    if not all(isinstance(wr.get(k), int) and wr[k] > 0 for k in ("max_side", "min_side")):
        raise fail(f"working_resolution needs positive int max_side and min_side, got {wr!r}")
    if "fp32" not in manifest["precisions"]:
        raise fail("precisions has no 'fp32' entry")
    for precision, name in manifest["precisions"].items():
        if name not in manifest["files"]:
            raise fail(f"precisions[{precision!r}] = {name!r} has no entry in 'files'")
    for name, entry in (manifest.get("variants") or {}).items():
        below = entry.get("styles_below_floor", []) if isinstance(entry, dict) else []
        if not (isinstance(below, list) and all(isinstance(i, int) and 0 <= i < len(styles) for i in below)):
            raise fail(f"variants[{name!r}].styles_below_floor must list style indices 0..{len(styles) - 1}, "
                       f"got {below!r}")
    lean = manifest.get("lean")
    if lean is not None:
        if not (isinstance(lean, dict) and isinstance(lean.get("styles"), int) and 0 < lean["styles"] < len(styles)
                and isinstance(lean.get("files"), dict)):
            raise fail(f"lean must be {{'styles': int in 1..{len(styles) - 1}, 'files': {{file: file}}}}, got {lean!r}")
        for name, lean_name in lean["files"].items():
            if name not in manifest["files"] or lean_name not in manifest["files"]:
                raise fail(f"lean.files[{name!r}] = {lean_name!r}: both must have an entry in 'files'")
    for name, entry in manifest["files"].items():
        if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
            raise fail(f"file name {name!r} must be a plain file name inside the package folder")
        if not name.endswith(_ALLOWED_SUFFIXES):
            raise fail(f"file {name!r} is not an ONNX file; packages carry only {_ALLOWED_SUFFIXES} "
                       "(no pickles or other executable formats)")
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64):
            raise fail(f"files[{name!r}] needs a 64-hex 'sha256', got {entry!r}")
    return manifest


def load_package(path: str | os.PathLike | None = None) -> ModelPackage:
    """Validate a package folder (default: the one shipped in ``sdk/models/default``).

    Raises :class:`ModelLoadError` naming the file for: a missing folder or file, an
    unreadable or invalid manifest, a wrong format version, a checksum mismatch, or an
    ONNX file with external data.
    """
    folder = Path(path) if path is not None else DEFAULT_PACKAGE
    if not folder.is_dir():
        raise ModelLoadError(f"model package {folder} is not a folder. Expected a folder holding {MANIFEST} "
                             "and generator.onnx; pass model=None for the shipped default model.")
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{manifest_path} is missing; a model package needs a manifest. "
                             "Re-export it with `python -m trainer export`.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{manifest_path} is not valid JSON ({exc}); the file is corrupt. "
                             "Restore or re-export the package.") from None
    manifest = _validate(manifest, manifest_path)
    for name, entry in manifest["files"].items():
        file = folder / name
        if not file.is_file():
            raise ModelLoadError(f"{file} is listed in the manifest but missing. Restore the package.")
        digest = sha256_file(file)
        if digest != entry["sha256"]:
            raise ModelLoadError(f"{file}: sha256 {digest[:16]}... does not match the manifest's "
                                 f"{entry['sha256'][:16]}...; the file is corrupt or was modified. "
                                 "Restore it or re-export the package.")
        if name.endswith(".onnx"):
            _refuse_external_data(file)
    return ModelPackage(folder, manifest)


def _refuse_external_data(file: Path) -> None:
    """Refuse ONNX initializers stored outside the file (paths could point anywhere).

    Scans the protobuf for the TensorProto 'data_location = EXTERNAL' marker without
    importing onnx (a runtime dependency we avoid): field 14, varint 1 -> bytes 0x70 0x01.
    A false positive is harmless here because this SDK's exporter never writes the marker;
    the check is confirmed with the onnx package when it is installed.
    """
    data = file.read_bytes()
    if b"\x70\x01" not in data:
        return
    try:
        import onnx
        from onnx.external_data_helper import uses_external_data
    except ImportError:
        return  # onnxruntime refuses a missing external path itself; nothing outside is read silently
    try:
        model = onnx.load_model(str(file), load_external_data=False)
    except Exception as exc:  # a truncated protobuf raises DecodeError, among others
        raise ModelLoadError(f"{file}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if any(uses_external_data(t) for t in model.graph.initializer):
        raise ModelLoadError(f"{file} stores weights in external data files; packages must be self-contained. "
                             "Re-export with torch.onnx.export(..., external_data=False).")


def write_package(folder: str | os.PathLike, onnx_files: dict[str, bytes], manifest: dict) -> ModelPackage:
    """Write ONNX files and a manifest (checksums filled in), then reload and validate it.

    ``onnx_files`` maps file name -> serialized model; ``manifest`` is everything but
    'format', 'format_version' and 'files', which are set here.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, blob in onnx_files.items():
        write_atomic(folder / name, blob)
        files[name] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
    write_atomic(folder / MANIFEST, (json.dumps(full, indent=2) + "\n").encode())
    return load_package(folder)


def describe_model_card(card: dict) -> str:
    """A manifest's ``model_card`` as indented lines of text: training data, licences, intended use, limits."""
    lines = [f"Trained on: {card['trained_on']}.", "Sources:"]
    lines += [f"  {s['source']}: {s['photos']} photo{'' if s['photos'] == 1 else 's'}, {', '.join(s['licences'])}"
              for s in card["sources"]]
    lines += [f"Not used: {card['not_used']}.", f"Intended use: {card['intended_use']}", "Limits:"]
    lines += [f"  - {limit}" for limit in card["limits"]]
    return "\n".join(lines)
