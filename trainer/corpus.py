"""A corpus of real colour photographs from registry packages, for training and judging looks.

``python -m trainer photos fetch`` builds it in a cache folder outside the repository
(``$STYLIZER_CACHE/photos``, default ``~/.cache/stylizer/photos``):

* Debian's wallpaper packages, fetched with ``apt-get download`` (no root) and unpacked with
  ``dpkg-deb -x``; scikit-image's bundled colour photos.
* **Which files are photographs** is a list made by looking at every image those packages
  hold (``PHOTOS`` below): camera photographs of people, animals, things, rooms, food and
  nature are kept; abstract art, renders, paintings, logos, textures and scans are not. A
  package file not on the list is recorded in the manifest as dropped, with that reason.
* **Duplicates**: two files are the same picture when their bytes are equal or when their
  32x32 grey thumbnails (each resized to the same square) correlate at 0.97 or more; the
  largest copy is kept (plasma ships each picture at up to twelve resolutions).
* Each photo is stored as PNG with its long side at most ``MAX_SIDE`` px; the manifest keeps its
  source package and version, the path inside the package, the licence and copyright from the
  package's copyright file, and its split.
* **Split** by source picture, before any crop: the one portrait goes to test (so the contact
  sheet shows glow on a face); the rest are ordered by the sha256 of their id and dealt to
  test until it has ``TEST_COUNT``, then validation ``VAL_COUNT``, then train. Train is halved the
  same way into the content side (inputs of the generator) and the look side (photos the look
  filter turns into the look set), so the two sides of unpaired training are different pictures.

``mate-backgrounds`` and matplotlib's sample images are never used: they are an outside test set.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_SIDE = 1600
TEST_COUNT, VAL_COUNT = 8, 4
DUPLICATE_CORRELATION = 0.97
EXCLUDED_PACKAGES = ("mate-backgrounds",)  # the outside test set

# package -> files (relative to the unpacked package root) that are camera photographs.
PHOTOS: dict[str, tuple[str, ...]] = {
    "plasma-workspace-wallpapers": tuple(
        f"usr/share/wallpapers/{name}/contents/images/{size}" for name, size in (
            ("BytheWater", "2560x1600.jpg"), ("ColdRipple", "2560x1600.jpg"), ("ColorfulCups", "2560x1600.jpg"),
            ("DarkestHour", "2560x1600.jpg"), ("EveningGlow", "2560x1600.jpg"), ("FallenLeaf", "2560x1600.jpg"),
            ("Grey", "2560x1600.jpg"), ("Kite", "2560x1600.jpg"), ("OneStandsOut", "2560x1600.jpg"),
            ("Path", "2560x1600.jpg"), ("Volna", "5120x2880.jpg"), ("summer_1am", "2560x1600.jpg"))),
    "lomiri-wallpapers-16.04": tuple(f"usr/share/backgrounds/{name}.jpg" for name in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "free_by_Peter_Nerlich",
        "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
        "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi")),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",),
    # Looked at and holding no camera photograph: abstract art, renders, logos, patterns.
    "gnome-backgrounds": (), "sway-backgrounds": (), "ukui-wallpapers": (), "lomiri-wallpapers": (),
}
# scikit-image's colour photos (licences from skimage/data/README.txt).
SKIMAGE_PHOTOS = {
    "astronaut": ("public domain", "NASA (Eileen Collins, 1998)"),
    "coffee": ("CC0-1.0", "Rachel Michetti"),
    "chelsea": ("CC0-1.0", "Stefan van der Walt"),
    "rocket": ("public domain", "NASA (SpaceX Falcon 9 launch)"),
}
PORTRAITS = ("skimage-astronaut",)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class CorpusError(RuntimeError):
    pass


def cache_dir() -> Path:
    root = os.environ.get("STYLIZER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "stylizer")
    return Path(root) / "photos"


@dataclass(frozen=True)
class Photo:
    id: str
    path: Path
    split: str  # "train-content", "train-look", "val" or "test"
    source: str
    licence: str


def _licence_for(copyright_text: str, relative_path: str) -> tuple[str, str]:
    """(licence, copyright) of one file from a Debian copyright file (DEP-5 stanzas, else the whole text)."""
    name = os.path.basename(relative_path)
    stanzas = re.split(r"\n\s*\n", copyright_text)
    best = None
    for stanza in stanzas:
        files = re.search(r"^Files:\s*(.+)$", stanza, re.M)
        licence = re.search(r"^License:\s*(.+)$", stanza, re.M)
        holder = re.search(r"^Copyright:\s*(.+)$", stanza, re.M)
        if not (files and licence):
            continue
        patterns = files.group(1).split()
        if any(os.path.basename(p) == name for p in patterns):
            return licence.group(1).strip(), holder.group(1).strip() if holder else ""
        if "*" in patterns and best is None:
            best = (licence.group(1).strip(), holder.group(1).strip() if holder else "")
    if best:
        return best
    raise CorpusError(f"no licence for {relative_path} in the package's copyright file")


def _thumbnail(image: np.ndarray) -> np.ndarray:
    import cv2
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    return (small - small.mean()) / (small.std() + 1e-9)


def find_duplicates(images: dict[str, np.ndarray]) -> dict[str, str]:
    """{dropped id: kept id} under the duplicate rule (same thumbnail); the larger image is kept."""
    ids = sorted(images, key=lambda i: -images[i].shape[0] * images[i].shape[1])
    thumbs = {i: _thumbnail(images[i]) for i in ids}
    kept: list[str] = []
    dropped = {}
    for i in ids:
        match = next((k for k in kept if float(np.mean(thumbs[i] * thumbs[k])) >= DUPLICATE_CORRELATION), None)
        if match is None:
            kept.append(i)
        else:
            dropped[i] = match
    return dropped


def assign_splits(ids: list[str]) -> dict[str, str]:
    """Deterministic split by picture (see the module docstring)."""
    if len(ids) < TEST_COUNT + VAL_COUNT + 2:
        raise CorpusError(f"{len(ids)} pictures: need at least {TEST_COUNT + VAL_COUNT + 2} to split")
    order = [i for i in ids if i in PORTRAITS] + sorted(
        (i for i in ids if i not in PORTRAITS), key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    splits = {}
    for n, i in enumerate(order):
        splits[i] = "test" if n < TEST_COUNT else "val" if n < TEST_COUNT + VAL_COUNT else None
    train = [i for i in order if splits[i] is None]
    for n, i in enumerate(train):
        splits[i] = "train-content" if n % 2 == 0 else "train-look"
    return splits


def _download(package: str, work: Path) -> tuple[Path, str]:
    """apt-get download + dpkg-deb -x; (unpacked root, package version)."""
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    existing = sorted(debs.glob(f"{package}_*.deb"))
    if not existing:
        result = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
        existing = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not existing:
            raise CorpusError(f"`apt-get download {package}` failed ({result.stderr.strip()[-300:]}); "
                              "run `apt-get update` once and check that Debian's package index is reachable")
    deb = existing[-1]
    root = work / "unpacked" / package
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise CorpusError(f"`dpkg-deb -x {deb.name}` failed: {result.stderr.strip()[-300:]}")
    version = deb.name.split("_")[1].replace("%3a", ":")
    return root, version


def _read_rgb(path: Path) -> np.ndarray:
    import cv2
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CorpusError(f"{path} could not be decoded as an image")
    return np.ascontiguousarray(image[:, :, ::-1])


def _limit(image: np.ndarray) -> np.ndarray:
    import cv2
    scale = MAX_SIDE / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def fetch(out: str | Path | None = None, packages: dict[str, tuple[str, ...]] | None = None,
          log=print) -> Path:
    """Build the corpus (see the module docstring); return the manifest's path. Idempotent."""
    import cv2
    out = Path(out) if out else cache_dir()
    packages = PHOTOS if packages is None else packages
    for excluded in EXCLUDED_PACKAGES:
        if excluded in packages:
            raise CorpusError(f"{excluded} is the outside test set and never goes into the corpus")
    work = out / "work"
    candidates: dict[str, np.ndarray] = {}
    records: dict[str, dict] = {}
    dropped: list[dict] = []
    for package, keep in packages.items():
        root, version = _download(package, work)
        copyright_file = root / "usr/share/doc" / package / "copyright"
        text = copyright_file.read_text(errors="replace") if copyright_file.exists() else ""
        if copyright_file.with_suffix(".gz").exists() and not text:
            text = gzip.decompress(copyright_file.with_suffix(".gz").read_bytes()).decode(errors="replace")
        all_images = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and "screenshot" not in p.name)
        for relative in all_images:
            if relative not in keep:
                dropped.append({"package": package, "path": relative,
                                "reason": "not a photograph (abstract art, render, logo or texture), "
                                          "or another resolution of a kept photo"})
        missing = [k for k in keep if k not in all_images]
        if missing:
            raise CorpusError(f"{package} {version} lacks {missing}: the package changed; look at its images "
                              "again and update trainer/corpus.py PHOTOS")
        for relative in keep:
            stem = Path(relative).stem if "wallpapers/" not in relative else relative.split("/")[3]
            photo_id = f"{package.split('-')[0]}-{stem}"
            licence, holder = _licence_for(text, relative)
            raw = (root / relative).read_bytes()
            candidates[photo_id] = _limit(_read_rgb(root / relative))
            records[photo_id] = {"id": photo_id, "source": f"debian:{package}={version}", "path": relative,
                                 "licence": licence, "copyright": holder, "sha256": hashlib.sha256(raw).hexdigest()}
        log(f"{package} {version}: {len(keep)} photos kept of {len(all_images)} images")
    try:
        from skimage import __version__ as skimage_version, data
    except ImportError as exc:
        raise CorpusError("scikit-image is needed for its bundled photos: pip install scikit-image") from exc
    for name, (licence, holder) in SKIMAGE_PHOTOS.items():
        photo_id = f"skimage-{name}"
        candidates[photo_id] = np.ascontiguousarray(getattr(data, name)()[:, :, :3])
        records[photo_id] = {"id": photo_id, "source": f"pypi:scikit-image=={skimage_version}",
                             "path": f"skimage.data.{name}()", "licence": licence, "copyright": holder,
                             "sha256": hashlib.sha256(candidates[photo_id].tobytes()).hexdigest()}
    for dup, kept in find_duplicates(candidates).items():
        dropped.append({**records.pop(dup), "reason": f"the same picture as {kept}"})
        del candidates[dup]
    splits = assign_splits(sorted(candidates))
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for photo_id, image in candidates.items():
        target = images_dir / f"{photo_id}.png"
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=images_dir, suffix=".png")
            os.close(fd)
            cv2.imwrite(tmp, image[:, :, ::-1])
            os.replace(tmp, target)
        records[photo_id].update(split=splits[photo_id], file=f"images/{photo_id}.png",
                                 size=[int(image.shape[1]), int(image.shape[0])])
    manifest = {"format": 1, "rule": __doc__.split("\n\n", 2)[1].strip(),
                "photos": [records[i] for i in sorted(records)], "dropped": dropped}
    path = out / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
    shutil.rmtree(work / "unpacked", ignore_errors=True)
    counts = {s: sum(1 for r in records.values() if r["split"] == s) for s in SPLITS}
    log(f"{len(records)} photos ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
        f"{len(dropped)} files dropped; manifest {path}")
    return path


SPLITS = ("train-content", "train-look", "val", "test")


def load(split: str | tuple[str, ...], root: str | Path | None = None, max_side: int | None = None
         ) -> dict[str, np.ndarray]:
    """{photo id: HxWx3 uint8 RGB} of one split (or several) of a fetched corpus."""
    import cv2
    root = Path(root) if root else cache_dir()
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        raise CorpusError(f"no photo corpus at {root}: build it with `python -m trainer photos fetch`"
                          + (f" --out {root}" if root != cache_dir() else ""))
    splits = (split,) if isinstance(split, str) else split
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise CorpusError(f"no split named {', '.join(map(repr, unknown))}; the corpus's splits are {', '.join(SPLITS)}")
    out = {}
    for record in json.loads(manifest_path.read_text())["photos"]:
        if record["split"] in splits:
            image = _read_rgb(root / record["file"])
            if max_side and max(image.shape[:2]) > max_side:
                scale = max_side / max(image.shape[:2])
                image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                   interpolation=cv2.INTER_AREA)
            out[record["id"]] = image
    if not out:
        raise CorpusError(f"the corpus at {root} has no photos in split {splits}")
    return out


def available(root: str | Path | None = None) -> bool:
    return ((Path(root) if root else cache_dir()) / "manifest.json").exists()
