"""export-lut: a style's colour mapping as a .cube 3D LUT that a real consumer (ffmpeg's lut3d) applies."""
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import sdk
from trainer import lut
from trainer.closure import closure


@pytest.fixture(scope="module")
def rgb_stylizer():
    with sdk.Stylizer(backend="onnxruntime", color_order="rgb") as s:
        yield s


def test_lattice_is_red_fastest_and_identity_lut_is_exact(photos_rgb):
    lattice = lut.lattice(3)
    assert lattice.shape == (27, 3)
    assert np.allclose(lattice[:4], [[0, 0, 0], [0.5, 0, 0], [1, 0, 0], [0, 0.5, 0]])
    photo = photos_rgb["coffee"]
    assert np.abs(lut.apply(lut.lattice(17), photo).astype(int) - photo).max() <= 1  # identity within rounding


def test_a_flat_patch_reads_the_models_flat_colour_response(rgb_stylizer):
    table = lut.bake(rgb_stylizer, "vintage", size=3)
    grey = np.full((192, 192, 3), 128, np.uint8)
    centre = rgb_stylizer(grey, style="vintage")[96, 96].astype(np.float32) / 255
    assert np.abs(table[13] - centre).max() <= 1 / 255  # lattice point 13 is (0.5, 0.5, 0.5)
    assert np.abs(table[13] - 0.5).max() > 0.02  # and vintage moves grey (it is not the identity)


def test_cube_file_follows_the_spec(tmp_path, rgb_stylizer):
    table = lut.bake(rgb_stylizer, "glow", size=5)
    path = lut.write_cube(tmp_path / "glow.cube", table, "stylizer glow")
    lines = path.read_text().splitlines()
    assert lines[:4] == ['TITLE "stylizer glow"', "LUT_3D_SIZE 5", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    data = np.array([[float(v) for v in line.split()] for line in lines[4:]])
    assert data.shape == (125, 3) and np.abs(data - table).max() < 1e-6
    with pytest.raises(ValueError, match="size\\*\\*3 entries; got 10"):
        lut.write_cube(tmp_path / "bad.cube", table[:10], "bad")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (Debian: apt-get install ffmpeg)")
def test_ffmpeg_lut3d_applies_the_exported_look_as_the_sdk_does(tmp_path, photos_rgb, rgb_stylizer):
    proc = subprocess.run([sys.executable, "-m", "trainer", "export-lut", "--style", "vintage", "--size", "17",
                           "-o", str(tmp_path / "vintage.cube")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "closure of the LUT to the model" in proc.stdout and "warning" not in proc.stderr
    table = np.array([[float(v) for v in line.split()] for line in
                      (tmp_path / "vintage.cube").read_text().splitlines()[4:]], np.float32)
    photo = cv2.resize(photos_rgb["astronaut"], (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "in.png"), photo[:, :, ::-1])
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "in.png"), "-vf",
                    f"lut3d=file={tmp_path / 'vintage.cube'}:interp=trilinear", str(tmp_path / "out.png")], check=True)
    by_ffmpeg = cv2.imread(str(tmp_path / "out.png"))[:, :, ::-1]
    # ffmpeg reads the file as this module wrote it: within one level of our own trilinear apply
    ours = lut.apply(table, photo)
    assert np.abs(by_ffmpeg.astype(int) - ours).max() <= 1
    # and the look is the SDK's: the LUT in ffmpeg lands at least 80% of the way from the photo to the SDK's vintage
    model = rgb_stylizer(photo, style="vintage")
    assert closure(by_ffmpeg, photo, model) >= 0.8


def test_cli_warns_for_a_local_look_and_refuses_bad_arguments(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trainer", "export-lut", "--style", "cartoon", "--size", "9",
                           "--corpus", str(tmp_path / "none"), "-o", str(tmp_path / "c.cube")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and (tmp_path / "c.cube").exists()
    assert "warning: the LUT holds" in proc.stderr and "which a LUT cannot draw" in proc.stderr
    for args, message in ((["--style", "glow", "--size", "70"], "--size 70: expected 2..65"),
                          (["--style", "glwo"], "Unknown style 'glwo'. Did you mean 'glow'?"),
                          (["--style", "glow", "-o", str(tmp_path / "x.txt")], "a LUT is written as a .cube file")):
        if "-o" not in args:
            args = args + ["-o", str(tmp_path / "x.cube")]
        proc = subprocess.run([sys.executable, "-m", "trainer", "export-lut", *args], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    assert not (tmp_path / "x.cube").exists()
