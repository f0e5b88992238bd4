"""trainer styles list|rename|remove: provenance shown, checksums kept valid, the other styles unchanged."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import sdk
from trainer import styles


def run(*args):
    return subprocess.run([sys.executable, "-m", "trainer", "styles", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def package(tmp_path):
    return shutil.copytree(sdk.load_package().path, tmp_path / "pkg")


def test_list_shows_where_each_style_came_from(package):
    proc = run("list", "--package", str(package))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["glow", "vintage", "sketch", "cartoon"]
    assert all(line.split()[2] == "shipped" and "5200 iterations, data corpus" in line for line in lines)
    manifest = json.loads((package / "manifest.json").read_text())
    manifest.setdefault("added_styles", []).append({"name": "cartoon", "source": "lut", "lut": "teal.cube",
                                                    "lut_kind": "3D", "lut_size": 33, "iterations": 1500,
                                                    "date": "2026-12-04"})
    (package / "manifest.json").write_text(json.dumps(manifest))  # the manifest holds no checksum of itself
    manifest["added_styles"] += [
        {"name": "sketch", "source": "pairs", "pairs": 22, "iterations": 1000, "date": "2026-12-05",
         "closure_held_out": {"mean": 0.912, "worst": 0.86}},
        {"name": "vintage", "source": "photos", "photos": 30, "runs": 4, "iterations": 600, "date": "2026-12-07",
         "grade_teacher": {"slope": [0.96, 0.94, 0.76], "offset": [14.6, 11.2, 12.7], "percentiles": [5.0, 95.0]}}]
    (package / "manifest.json").write_text(json.dumps(manifest))  # the manifest holds no checksum of itself
    rows = styles.provenance(sdk.load_package(package))
    assert rows[3] == {"name": "cartoon", "index": 3, "source": "lut",
                       "detail": "LUT teal.cube (3D, 33 points), 1500 iterations, 2026-12-04"}
    assert rows[2]["detail"] == "22 before/after pairs, 1000 iterations, closure 0.91 on the held-out pairs, 2026-12-05"
    assert rows[1]["detail"] == "30 photos, 4 runs x 600 iterations, grade taught (per-channel levels), 2026-12-07"


def test_rename_changes_only_the_manifest_and_keeps_every_checksum(package, photos_rgb):
    before = json.loads((package / "manifest.json").read_text())
    proc = run("rename", "cartoon", "toon", "--package", str(package))
    assert proc.returncode == 0, proc.stderr
    renamed = sdk.load_package(package)  # every file's checksum verified on load
    assert renamed.style_names == ("glow", "vintage", "sketch", "toon")
    assert json.loads((package / "manifest.json").read_text())["files"] == before["files"]
    with sdk.Stylizer(package, backend="onnxruntime") as new, sdk.Stylizer(backend="onnxruntime") as old:
        frame = photos_rgb["coffee"][:, :, ::-1]
        np.testing.assert_array_equal(new(frame, style="toon"), old(frame, style="cartoon"))
    for args, message in ((("rename", "toon", "glow"), "already has a style 'glow'"),
                          (("rename", "nope", "x"), "has no style 'nope'"),
                          (("rename", "toon", "a b"), "use letters, digits"),
                          (("rename", "toon"), "expected `styles rename OLD NEW`")):
        proc = run(*args, "--package", str(package))
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)


def test_remove_rebuilds_the_model_without_the_style_and_the_others_are_unchanged(package, photos_rgb):
    proc = run("remove", "vintage", "--package", str(package))
    assert proc.returncode == 0, proc.stderr
    assert "dropped the compressed variants" in proc.stderr and "python -m trainer prune" in proc.stderr
    removed = sdk.load_package(package)
    assert removed.style_names == ("glow", "sketch", "cartoon")
    assert sorted(p.name for p in package.glob("*.onnx")) == ["generator.onnx"]
    assert removed.manifest["style_input"]["shape"] == [1, 3, 1, 1]
    frame = photos_rgb["chelsea"][:, :, ::-1]
    with sdk.Stylizer(package, backend="onnxruntime") as new, \
            sdk.Stylizer(backend="onnxruntime", precision="fp32") as old:
        for style in removed.style_names:
            assert np.abs(new(frame, style=style).astype(int) - old(frame, style=style)).max() <= 1, style
    proc = run("remove", "vintage", "--package", str(package))
    assert proc.returncode == 2 and "has no style 'vintage'" in proc.stderr
