"""The shipped package's compressed variants: present, checksummed, within their targets, their
recorded fidelity reproducible, and the CPU default is the fastest one that passes its floor."""
import numpy as np
import pytest

import sdk
from trainer import compress

PACKAGE = sdk.load_package()
VARIANTS = PACKAGE.variants


def test_the_package_ships_pruned_and_quantized_variants():
    assert {"fp32", "fp16", "int8", "pruned50", "pruned25", "pruned50-int8", "pruned25-int8"} <= set(VARIANTS)
    for name, v in VARIANTS.items():
        assert v["file"] in PACKAGE.manifest["files"], name  # so its sha256 is checked at load
    assert PACKAGE.manifest["precisions"] == {"fp32": "generator.onnx", "fp16": "generator.fp16.onnx",
                                              "int8": "generator.int8.onnx"}


@pytest.mark.parametrize("name,target", [("pruned50", 0.5), ("pruned25", 0.25)])
def test_pruned_variants_meet_their_macs_target_and_floors(name, target):
    v = VARIANTS[name]
    assert v["macs_fraction"] <= target and v["macs_1280x720"] <= target * VARIANTS["fp32"]["macs_1280x720"]
    assert all(c % 8 == 0 for layer, c in v["channels"].items() if layer not in ("to_rgb", "colour_out")
               and not layer.startswith("ink_"))  # RGB outputs and the fixed ink path are never pruned
    assert {k: c for k, c in v["channels"].items() if k.startswith("ink_")} == {
        "ink_edges": 7, "ink_level": 1, "ink_base": 3, "ink_ones": 1, "ink_border": 1, "ink_smooth": 1, "ink_strength": 1}
    assert v["fidelity"]["psnr_db"] >= compress.FLOORS["pruned_psnr_db"]
    # The recorded verdict is the floor's rule applied to the recorded numbers (the SDK trusts it).
    keeps_looks = all(c >= VARIANTS["fp32"]["look_closure"][style] - compress.FLOORS["closure_drop"]
                      for style, c in v["look_closure"].items())
    assert v["passes_floor"] == keeps_looks


@pytest.mark.parametrize("name", ["pruned50", "int8"])
def test_recorded_fidelity_is_reproducible(name):
    blob = (PACKAGE.path / VARIANTS[name]["file"]).read_bytes()
    fresh = compress.fidelity(blob, PACKAGE.file("fp32").read_bytes(), list(PACKAGE.style_names))
    # FP32 repeats to rounding; ONNX Runtime's INT8 kernels differ by CPU (VNNI or not), measured
    # 42.84 and 42.97 dB for the same file on two x86 machines.
    tolerance_db = 0.3 if VARIANTS[name]["precision"] == "int8" else 0.05
    assert fresh["psnr_db"] == pytest.approx(VARIANTS[name]["fidelity"]["psnr_db"], abs=tolerance_db)
    assert fresh["ssim"] == pytest.approx(VARIANTS[name]["fidelity"]["ssim"], abs=1e-3)


def test_cpu_default_is_the_fastest_variant_that_passes_its_floor():
    passing = {n: v["cpu_ms_640x360"] for n, v in VARIANTS.items() if v["passes_floor"]}
    fastest = min(passing, key=passing.get)
    with sdk.Stylizer(backend="onnxruntime") as s:
        assert s._backend.variant == fastest
    if not any(b.available for b in sdk.list_backends() if b.name in ("tensorrt", "torch-cuda")):
        from sdk.stylizer import default_stylizer
        assert default_stylizer()._backend.variant == fastest  # what sdk.stylize_frame runs


def test_each_variant_runs_in_the_layout_recorded_for_it_and_both_layouts_agree(tmp_path):
    """The compress step records per variant whether ONNX Runtime's blocked layout (NCHWc) was faster;
    the backend follows it. Plain and blocked sessions compute the same frame to float rounding."""
    import numpy as np
    import onnxruntime as ort
    from sdk.backends.onnxruntime import OnnxRuntimeBackend, layout_options

    assert all(isinstance(v.get("onnxruntime_nchwc"), bool) for v in VARIANTS.values())
    for name in ("fp32", "pruned25"):
        backend = OnnxRuntimeBackend(PACKAGE, variant=name)
        assert backend.nchwc is VARIANTS[name]["onnxruntime_nchwc"], name
    blob = PACKAGE.file("fp32").read_bytes()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    style = np.eye(len(PACKAGE.style_names), dtype=np.float32)[2].reshape(1, -1, 1, 1)
    outputs = {}
    for nchwc in (True, False):
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / f"optimized-{nchwc}.onnx")
        session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"], **layout_options(nchwc))
        outputs[nchwc] = session.run(None, {"image": x, "style": style})[0]
    import onnx
    domains = {nchwc: {n.domain for n in onnx.load(tmp_path / f"optimized-{nchwc}.onnx").graph.node}
               for nchwc in (True, False)}
    assert "com.microsoft.nchwc" not in domains[False]
    assert np.abs(outputs[True] - outputs[False]).max() < 1e-4


def test_a_style_below_a_variants_floor_runs_another_variant_and_the_others_stay(tmp_path, photos_rgb):
    """A style an add-style distilled less well than the floor (``styles_below_floor``) is served by the
    fastest FP32-precision variant that passes for it, alone or in a mix, while the variant keeps serving
    the others: auto keeps its choice."""
    import json
    import shutil
    package = tmp_path / "pkg"
    shutil.copytree(sdk.load_package().path, package)
    manifest = json.loads((package / "manifest.json").read_text())
    auto = sdk.load_package(package).choose_variant()[0]
    assert auto != "fp32"
    manifest["variants"][auto]["styles_below_floor"] = [3]  # the cartoon, as if added and distilled badly
    (package / "manifest.json").write_text(json.dumps(manifest))
    image = photos_rgb["astronaut"][:200, :200]
    # Served instead by the fastest FP32-precision variant that passes for it: the other pruned one.
    fallback = min((v["cpu_ms_640x360"], n) for n, v in manifest["variants"].items()
                   if v["precision"] == "fp32" and v["passes_floor"] and n != auto)[1]
    assert fallback.startswith("pruned")
    with sdk.Stylizer(package, backend="onnxruntime", color_order="rgb") as marked, \
            sdk.Stylizer(backend="onnxruntime", color_order="rgb") as shipped, \
            sdk.Stylizer(backend="onnxruntime", color_order="rgb", variant=fallback) as fp32:
        assert marked._backend.variant == auto and marked._backend.fallback_variant == fallback
        for style in ("glow", "sketch"):
            np.testing.assert_array_equal(marked(image, style=style), shipped(image, style=style))
        np.testing.assert_array_equal(marked(image, style="cartoon"), fp32(image, style="cartoon"))
        assert np.abs(marked(image, style="cartoon").astype(int) - shipped(image, style="cartoon")).max() > 0
        mix = {"glow": 0.5, "cartoon": 0.5}
        np.testing.assert_array_equal(marked(image, style=mix), fp32(image, style=mix))
        marked._backend.max_specialized = len(marked._backend._specialized)  # later vectors: generic sessions
        other = {"vintage": 0.3, "cartoon": 0.7}
        assert np.abs(marked(image, style=other).astype(int) - fp32(image, style=other)).max() <= 1
    # The CPU torch backend, given the variant, falls back alike (its default, the FP32 file, has no floor to miss).
    with sdk.Stylizer(package, backend="torch", color_order="rgb", variant=auto) as marked, \
            sdk.Stylizer(backend="torch", color_order="rgb", variant=auto) as shipped, \
            sdk.Stylizer(backend="torch", color_order="rgb", variant=fallback) as pruned:
        assert marked._backend.fallback_variant == fallback
        np.testing.assert_array_equal(marked(image, style="glow"), shipped(image, style="glow"))
        for style in ("cartoon", {"glow": 0.5, "cartoon": 0.5}):
            np.testing.assert_array_equal(marked(image, style=style), pruned(image, style=style))
        assert np.abs(marked(image, style="cartoon").astype(int) - shipped(image, style="cartoon")).max() > 0
    bad = dict(manifest)
    bad["variants"][auto]["styles_below_floor"] = [9]
    (package / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(sdk.ModelLoadError, match="styles_below_floor must list style indices 0..3, got \\[9\\]"):
        sdk.load_package(package)
