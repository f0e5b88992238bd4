"""The package's variant table (``manifest["variants"]``): read it, and write a package with new variant files."""
from __future__ import annotations

import copy
from pathlib import Path


from sdk.package import ModelPackage, write_package
from trainer.compress.metrics import _record
from trainer.export import package_files


def variants_of(package: ModelPackage) -> dict[str, dict]:
    """``manifest["variants"]``, with the FP32 file as the "fp32" variant when none are recorded yet."""
    variants = copy.deepcopy(package.manifest.get("variants", {}))
    if "fp32" not in variants:
        model = package.manifest["model"]
        variants["fp32"] = {"file": package.manifest["precisions"]["fp32"], "precision": "fp32", "pruned_from": None,
                            "parameters": model["parameters"], "macs_1280x720": model["macs_1280x720"]}
    return variants


def write_variants(package: ModelPackage, out: str | Path, new_files: dict[str, bytes], variants: dict[str, dict],
                   command: str) -> ModelPackage:
    """A package (``out``, may be ``package.path``) with the extra files and the variant table."""
    files = package_files(package)
    files.update(new_files)
    manifest = {k: v for k, v in package.manifest.items() if k not in ("format", "format_version", "files")}
    # Latencies measured one variant at a time drift with the machine; the choice needs them comparable.
    _record({name: files[v["file"]] for name, v in variants.items()}, variants, len(package.style_names))
    manifest["variants"] = variants
    manifest["precisions"] = {v["precision"]: v["file"] for v in variants.values() if v.get("pruned_from") is None}
    manifest.setdefault("compression", []).append(command)
    return write_package(out, files, manifest)
