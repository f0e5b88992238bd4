"""The shipped model's card: what it was trained on (which packages, which licences), what it is for, its limits.

Written into the package manifest (``manifest["model_card"]``) from the photo corpus's manifest, so it
names the exact package versions and licences of the photos the trainer saw; the README quotes it.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from sdk.package import ModelPackage, load_package, write_package

INTENDED_USE = ("Creative real-time filters for video and photos (camera apps, streaming, AR and desktop tools): "
                "a look applied to a whole frame, with adjustable strength.")
LIMITS = (
    "The looks were learned from filter renderings (trainer/looks.py) of real photos, unpaired, not from a "
    "creator's own edits; the model reaches part of each filter (see the README's looks table), not all of it.",
    "Trained on few photos, mostly landscapes, nature and objects, with no portrait: faces and skin tones are "
    "not in the training data (glow's skin smoothing was never shown a face); check a look on your own footage "
    "before shipping it.",
    "No face, person or scene detection: a look changes every pixel alike. Not for identification, "
    "measurement or any decision about people.",
    "The sketch can leave faint stale lines when temporal smoothing is on and the camera moves (README, Temporal).",
    "The cartoon is vivid colour with dark outlines on strong edges, without the filter's flat regions: the "
    "photo's texture stays, and strongly textured areas (foliage, wood grain) are inked too. Glow is a warm, "
    "lifted grade without the filter's skin smoothing and bloom.",
)


def build(corpus_manifest: dict, training_splits: tuple[str, ...] = ("train-content", "train-look")) -> dict:
    """The card from a photo-corpus manifest (``python -m trainer photos fetch`` writes it)."""
    by_source: dict[str, dict] = defaultdict(lambda: {"photos": 0, "licences": set(), "splits": defaultdict(int)})
    for photo in corpus_manifest["photos"]:
        entry = by_source[photo["source"]]
        entry["photos"] += 1
        entry["licences"].add(photo["licence"])
        entry["splits"][photo["split"]] += 1
    sources = [{"source": source, "photos": e["photos"], "licences": sorted(e["licences"]),
                "splits": dict(sorted(e["splits"].items()))} for source, e in sorted(by_source.items())]
    trained = sum(1 for p in corpus_manifest["photos"] if p["split"] in training_splits)
    return {
        "trained_on": (f"{trained} real photographs ({' and '.join(training_splits)} splits of the photo corpus: "
                       "content photos on one side, other photos rendered through each look's filter on the "
                       "other, never the same picture on both); "
                       f"{len(corpus_manifest['photos']) - trained} more held out for validation and test"),
        "sources": sources,
        "licences": sorted({p["licence"] for p in corpus_manifest["photos"]}),
        "not_used": "Debian's mate-backgrounds and matplotlib's sample images: kept out as an outside test set",
        "intended_use": INTENDED_USE,
        "limits": list(LIMITS),
    }


def write(package: str | Path | ModelPackage, corpus_root: str | Path | None = None) -> ModelPackage:
    """Put the card into ``package``'s manifest (the ONNX files and their checksums are unchanged)."""
    from trainer import corpus
    from trainer.export import package_files

    package = package if isinstance(package, ModelPackage) else load_package(package)
    root = Path(corpus_root) if corpus_root else corpus.cache_dir()
    if not corpus.available(root):
        raise corpus.CorpusError(f"no photo corpus at {root}: run `python -m trainer photos fetch` first")
    card = build(json.loads((root / "manifest.json").read_text()))
    manifest = {k: v for k, v in package.manifest.items() if k not in ("format", "format_version", "files")}
    manifest["model_card"] = card
    return write_package(package.path, package_files(package), manifest)
