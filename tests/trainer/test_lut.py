"""export-lut: a style's colour mapping as a .cube 3D LUT that a real consumer (ffmpeg's lut3d) applies."""
import hashlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import sdk
from sdk.onnx_edit import input_to_constant
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


def teal_orange(x):
    """A strong grade no shipped style has: teal shadows, orange highlights, more saturation, an S-curve."""
    luma = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    y = x + (1 - luma) * np.array([-0.05, 0.04, 0.08]) + luma * np.array([0.10, 0.03, -0.08])
    mean = y.mean(-1, keepdims=True)
    y = mean + 1.25 * (y - mean)
    return np.clip(y + 0.15 * y * (1 - y) * (y - 0.5) * 2, 0, 1)


@pytest.fixture(scope="module")
def teal_cube(tmp_path_factory):
    table = teal_orange(lut.lattice(17).astype(np.float64)).astype(np.float32)
    return lut.write_cube(tmp_path_factory.mktemp("lut") / "teal.cube", table, "teal orange")


def write(tmp_path, text):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n", r"line 8 \(the last\): 7 data rows, but "
                                                                         r"LUT_3D_SIZE 2 needs 8"),
    ("LUT_3D_SIZE 70\n", r"line 1: LUT_3D_SIZE 70; the spec allows 2..65"),
    ("TITLE \"x\"\nLUT_3D_SIZE 2\n0 0 0\n1 0 zero\n", r"line 4: '1 0 zero' is neither a keyword nor three numbers"),
    ("LUT_3D_SIZE 2\n0 0 0 0\n", r"line 2: 4 numbers; a data row holds three"),
    ("LUT_3D_SIZE two\n", r"line 1: 'LUT_3D_SIZE two'; expected LUT_3D_SIZE and a whole number"),
    ("0 0 0\n", r"no LUT_3D_SIZE or LUT_1D_SIZE line"),
])
def test_a_bad_cube_file_is_a_typed_error_naming_the_line(tmp_path, text, message):
    with pytest.raises(lut.LutError, match=message):
        lut.CubeLut(write(tmp_path, text))


def test_3d_and_1d_cubes_are_read_and_applied_by_the_library(tmp_path, teal_cube, photos_rgb):
    photo = photos_rgb["coffee"]
    cube = lut.CubeLut(teal_cube)
    assert (cube.kind, cube.size) == ("3D", 17)
    table = np.array([[float(v) for v in line.split()] for line in teal_cube.read_text().splitlines()[4:]], np.float32)
    assert np.abs(cube.apply(photo).astype(int) - lut.apply(table, photo)).max() <= 1
    curves = write(tmp_path, "LUT_1D_SIZE 3\n0 0 0\n0.25 0.5 0.75\n1 1 1\n")  # three curves: a 1D LUT
    one_d = lut.CubeLut(curves)
    grey = np.full((4, 4, 3), 128, np.uint8)
    assert one_d.kind == "1D" and np.abs(one_d.apply(grey)[0, 0].astype(int) - [64, 128, 191]).max() <= 1
    # the torch lattice that training samples agrees with the library's apply
    import torch
    x = torch.from_numpy(photo[::8, ::8]).permute(2, 0, 1)[None].float() / 127.5 - 1
    y = ((lut.torch_apply(cube.torch_lattice(), x) + 1) * 127.5).round().squeeze(0).permute(1, 2, 0).numpy()
    assert np.abs(y - cube.apply(photo[::8, ::8])).max() <= 2


def test_add_style_from_a_lut_learns_it_and_leaves_the_other_styles_alone(tmp_path, teal_cube, photos_rgb,
                                                                         monkeypatch):
    proc = subprocess.run([sys.executable, "-m", "trainer", "add-style", "--lut", str(teal_cube), "--name", "teal",
                           "--iterations", "150", "--own-channels", "8", "--out", str(tmp_path / "pkg")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "closure to the LUT on" in proc.stdout
    package = sdk.load_package(tmp_path / "pkg")
    record = package.manifest["added_styles"][-1]
    assert package.style_names[-1] == "teal" and record["source"] == "lut" and record["lut_size"] == 17
    assert record["closure_to_lut"]["mean"] > 0.5  # 150 iterations: well on the way (1,500 reach 0.9+, README)
    # Its own colour-head channels: 8 more in every variant, latencies measured anew, auto as before.
    base = sdk.load_package(None)
    assert record["owned_colour_channels"] == 8
    for name, entry in base.variants.items():
        grown = package.variants[name]
        assert grown["parameters"] > entry["parameters"] and grown["macs_1280x720"] > entry["macs_1280x720"], name
        assert grown["cpu_ms_640x360"] > 0 and grown["onnxruntime_nchwc"] == entry["onnxruntime_nchwc"]
    assert package.choose_variant()[0] == base.choose_variant()[0]
    # Every file as it was before the owned channels (manifest "lean"), which serves the old styles.
    assert package.manifest["lean"] == {"styles": 4, "files": {f: "lean_" + f for f in base.manifest["files"]}}
    for file, lean_file in package.manifest["lean"]["files"].items():
        assert (package.path / lean_file).read_bytes() == (base.path / file).read_bytes(), file
    image = photos_rgb["chelsea"]
    for precision in ("fp32", "auto"):  # the new package keeps the variants, so auto serves pruned25 in both
        with sdk.Stylizer(package.path, backend="onnxruntime", precision=precision, color_order="rgb") as new, \
                sdk.Stylizer(backend="onnxruntime", precision=precision, color_order="rgb") as old:
            for style in old.styles:
                np.testing.assert_array_equal(new(image, style=style), old(image, style=style))
            backend, file = new._backend, new._backend._path.name
            # An old style (or a mix of old ones) runs the lean file at the old speed; the new style cannot.
            old_only = np.array([0.5, 0.5, 0, 0, 0], np.float32).reshape(1, 5, 1, 1)
            assert backend._specialized_model(old_only) == input_to_constant(
                (base.path / file).read_bytes(), "style", old_only[:, :4])
            teal = np.eye(5, dtype=np.float32)[4].reshape(1, 5, 1, 1)
            assert backend._specialized_model(teal) == input_to_constant((package.path / file).read_bytes(), "style", teal)
            # Past the specialized sessions (a mix animated every frame), old styles still run the lean file.
            backend.max_specialized = len(backend._specialized)
            mix = {"glow": 0.3, "vintage": 0.7}
            assert np.abs(new(image, style=mix).astype(int) - old(image, style=mix)).max() <= 1
            assert backend._lean_generic is not None
    # The CPU torch backend serves old styles from the lean file too: the same pixels as the shipped package.
    with sdk.Stylizer(package.path, backend="torch", color_order="rgb") as new, \
            sdk.Stylizer(backend="torch", color_order="rgb") as old:
        for style in ("glow", {"vintage": 0.5, "sketch": 0.5}):
            np.testing.assert_array_equal(new(image, style=style), old(image, style=style))
        assert new._backend._bound[0] is new._backend._graphs["lean"]
        new(image, style="teal")
        assert new._backend._bound[0] is new._backend._graph  # the new style: the widened file
    # So does the torch-cuda frame pipeline (its code run on the CPU: kernels emulated, streams no-ops), slot by slot.
    from kernels.emulator import KernelEmulator
    from sdk.backends.torch import TorchBackend
    from sdk.cuda.pipeline import TorchCudaPipeline
    from tests.sdk.backends.cuda_on_cpu import TorchOnCpu

    emulator = KernelEmulator()

    def frame_pipeline(pkg):
        backend = TorchBackend("torch", pkg, "fp32")
        pipe = TorchCudaPipeline(backend._graph, emulator, half=False, use_graphs=False, channels_last=False,
                                 route=backend.route)
        pipe.torch = TorchOnCpu()
        return backend, pipe

    (new_backend, new_pipe), (_, old_pipe) = frame_pipeline(package), frame_pipeline(base)
    frame = np.ascontiguousarray(image[:128, :192, ::-1])
    vector = lambda weights, n: np.array(weights + [0] * (n - len(weights)), np.float32).reshape(1, n, 1, 1)
    for weights in ([1], [0, 0.5, 0.5], [1], [0, 0, 0, 1]):  # two slots, each seeing two styles
        got = new_pipe.run(frame, "bgr", (128, 192), vector(weights, 5), 0.8)
        np.testing.assert_array_equal(got, old_pipe.run(frame, "bgr", (128, 192), vector(weights, 4), 0.8))
    assert all(slot.model is new_backend._graphs["lean"] for slot in new_pipe._slots)
    teal_frame = new_pipe.run(frame, "bgr", (128, 192), vector([0, 0, 0, 0, 1], 5), 0.8)
    slot = new_pipe._slots[0]
    assert slot.model is new_backend._graph and tuple(slot.style.shape) == (1, 5, 1, 1)
    widened = TorchCudaPipeline(new_backend._graph, emulator, half=False, use_graphs=False, channels_last=False)
    widened.torch = TorchOnCpu()
    np.testing.assert_array_equal(teal_frame, widened.run(frame, "bgr", (128, 192), vector([0, 0, 0, 0, 1], 5), 0.8))
    # TensorRT too (its backend's code on the CPU, each engine the file it is built from): the old styles run an
    # engine of the lean file, built when one of them is first asked for, and only the new style the widened one's.
    from tests.sdk.backends.cuda_on_cpu import tensorrt_on_cpu
    monkeypatch.setenv("STYLIZER_CACHE", str(tmp_path / "engines"))
    sha = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()
    trt, builds = tensorrt_on_cpu(monkeypatch, package)
    for weights in ([1], [0, 0.5, 0.5]):
        got = trt.stylize_frame(frame, "bgr", (128, 192), vector(weights, 5), 0.8)
        assert np.abs(got.astype(int) - old_pipe.run(frame, "bgr", (128, 192), vector(weights, 4), 0.8)).max() <= 1
    assert builds == [(sha(base.file("fp32")), 4, ((128, 192),))]
    got = trt.stylize_frame(frame, "bgr", (128, 192), vector([0, 0, 0, 0, 1], 5), 0.8)
    assert np.abs(got.astype(int) - teal_frame).max() <= 1
    assert builds[1:] == [(sha(package.file("fp32")), 5, ((128, 192),))]
    image_in = np.ascontiguousarray(image[:64, :64].transpose(2, 0, 1)[None], np.float32) / 127.5 - 1
    with sdk.Stylizer(backend="onnxruntime", precision="fp32") as reference:  # run(), outside the pipeline
        session = reference._backend
        np.testing.assert_allclose(trt.run(image_in, vector([0, 1], 5)), session.run(image_in, vector([0, 1], 4)),
                                   atol=1e-4)
    assert [b[1:] for b in builds[2:]] == [(4, ((64, 64),))]
    again, rebuilt = tensorrt_on_cpu(monkeypatch, package)  # a new process: both engines come from the cache
    again.stylize_frame(frame, "bgr", (128, 192), vector([1], 5), 0.8)
    again.stylize_frame(frame, "bgr", (128, 192), vector([0, 0, 0, 0, 1], 5), 0.8)
    assert rebuilt == []
    # Removing a style drops the lean files: they serve a prefix of the old style list.
    assert subprocess.run([sys.executable, "-m", "trainer", "styles", "remove", "teal", "--package", str(package.path)],
                          capture_output=True, text=True, timeout=300).returncode == 0
    removed = sdk.load_package(package.path)
    assert "lean" not in removed.manifest and not list(removed.path.glob("lean_*"))
    proc = subprocess.run([sys.executable, "-m", "trainer", "add-style", "--name", "x", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--photos DIR, --before DIR --after DIR, or --lut FILE.cube" in proc.stderr
    bad = write(tmp_path, "LUT_3D_SIZE 99\n")
    proc = subprocess.run([sys.executable, "-m", "trainer", "add-style", "--lut", str(bad), "--name", "x", "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "line 1: LUT_3D_SIZE 99" in proc.stderr and "Traceback" not in proc.stderr
