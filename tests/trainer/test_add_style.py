"""add-style: a new style trains only its own parameters; the old styles' outputs stay bit-identical."""
import numpy as np
import pytest

import sdk
from trainer import add_style, grade_prior, photos
from trainer.models.generator import is_style_column_weight


@pytest.fixture(scope="module")
def look_dir(tmp_path_factory):
    return add_style.demo_look_photos(tmp_path_factory.mktemp("look"), count=8)


@pytest.fixture(scope="module")
def added(tmp_path_factory, look_dir):
    out = tmp_path_factory.mktemp("pkg")
    package, _ = add_style.add_style(None, "warm_film", look_dir, out, iterations=6, progress=False,
                                     variant_iterations=20)
    return package


def test_new_package_has_one_more_style_and_only_its_column_changed(added):
    assert added.style_names == ("glow", "vintage", "sketch", "cartoon", "warm_film")
    assert added.manifest["style_input"]["shape"] == [1, 5, 1, 1]
    assert added.manifest["added_styles"][0]["name"] == "warm_film"
    assert added.manifest["added_styles"][0]["runs"] == 4  # the default: four seeds, averaged
    assert len(added.manifest["added_styles"][0]["last_losses"]) == 4
    teacher = added.manifest["added_styles"][0]["grade_teacher"]  # on by default: the levels it was taught
    assert teacher["percentiles"] == [grade_prior.LOW, grade_prior.HIGH] == [0.1, 99.9] and len(teacher["slope"]) == len(teacher["offset"]) == 3
    assert added.manifest["added_styles"][0]["detail_ratio"] > 0
    from trainer.export import generator_from_package
    old = generator_from_package(sdk.load_package()).state_dict()
    new = generator_from_package(added).state_dict()
    changed = []
    for key, value in new.items():
        if key not in old:  # the output colour affine the widened model gains: zero for the old styles
            assert key.startswith("out_affine.")
            assert not value[:, :4].any() if value.dim() == 4 else not value.any(), key
            continue
        if value.shape != old[key].shape:
            assert is_style_column_weight(key)
            assert np.array_equal(value[:, :4].numpy(), old[key].numpy()), key  # old columns untouched
            changed.append(key)
        else:
            assert np.array_equal(value.numpy(), old[key].numpy()), key  # shared weights frozen
    # gamma and beta of each of the 20 convs with a style affine (not to_rgb) and of the colour head's, and
    # the ink's strength
    assert len(changed) == 2 * 21 + 1


@pytest.mark.parametrize("variant", [None, "fp32", "pruned50", "int8", "pruned25-fp16"])
def test_old_styles_outputs_are_bit_identical_through_the_sdk(added, photos_rgb, variant):
    """In every variant (None: what precision="auto" picks), as the SDK runs it."""
    with sdk.Stylizer(added.path, backend="onnxruntime", color_order="rgb", variant=variant) as new, \
            sdk.Stylizer(backend="onnxruntime", color_order="rgb", variant=variant) as old:
        assert new._backend.variant == old._backend.variant
        for image in photos_rgb.values():
            for style in old.styles:
                np.testing.assert_array_equal(new(image, style=style), old(image, style=style))
        assert not np.array_equal(new(photos_rgb["chelsea"], style="warm_film"),
                                  old(photos_rgb["chelsea"], style="glow"))


def test_the_added_package_keeps_every_variant_and_the_auto_choice(added):
    base = sdk.load_package()
    assert set(added.variants) == set(base.variants)
    assert added.manifest["precisions"] == base.manifest["precisions"]
    for name, entry in added.variants.items():
        assert (added.path / entry["file"]).is_file(), name
        before = base.variants[name]
        # Same network size: the base's measured latencies and layout stay, so auto picks the same file.
        assert entry["cpu_ms_640x360"] == before["cpu_ms_640x360"]
        assert entry["onnxruntime_nchwc"] == before["onnxruntime_nchwc"]
        if name != "fp32":
            floor = 30.0 if "pruned" in name else 32.0
            # The variant passes for the old styles as before; a new style under the floor is listed instead.
            assert entry["passes_floor"] == before["passes_floor"], name
            assert entry.get("styles_below_floor", []) == ([] if entry["new_style_psnr_db"] >= floor else [4]), name
    assert added.choose_variant()[0] == base.choose_variant()[0]
    with sdk.Stylizer(added.path, backend="onnxruntime", variant="pruned25") as s:
        assert s.styles[-1] == "warm_film"


def test_add_style_refuses_a_duplicate_name_and_too_few_photos(tmp_path, look_dir):
    with pytest.raises(ValueError, match="style 'glow' is already in"):
        add_style.add_style(None, "glow", look_dir, tmp_path / "x", iterations=1, progress=False)
    few = tmp_path / "few"
    few.mkdir()
    for p in sorted(look_dir.iterdir())[:2]:
        (few / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ValueError, match="holds 2 usable photos; a look needs at least 5"):
        add_style.add_style(None, "new", few, tmp_path / "y", iterations=1, progress=False)
    with pytest.raises(ValueError, match="runs=0; need at least 1"):
        add_style.add_style(None, "new", look_dir, tmp_path / "z", iterations=1, progress=False, runs=0)
    assert not (tmp_path / "z").exists()


def test_demo_look_photos_never_use_content_or_held_out_photos(tmp_path, monkeypatch):
    from trainer import corpus
    # Without the corpus: crops of photos.STYLE only; the test photos are photos.HELD_OUT.
    assert not set(photos.STYLE) & (set(photos.CONTENT) | set(photos.HELD_OUT))
    asked = []
    monkeypatch.setattr(corpus, "available", lambda root=None: True)
    monkeypatch.setattr(corpus, "load", lambda split, root=None, max_side=None: asked.append(split) or
                        {"a": np.full((300, 400, 3), 120, np.uint8)})
    written = sorted(add_style.demo_look_photos(tmp_path, count=3).glob("*.png"))
    assert asked == ["train-look"] and len(written) == 3  # with it: the look side of its training split only
    monkeypatch.setattr(corpus, "available", lambda root=None: False)
    assert len(add_style.default_content()) == 6 * len(photos.CONTENT)  # bundled, six copies each
    monkeypatch.setattr(corpus, "available", lambda root=None: True)
    assert len(add_style.default_content()) == 4 and asked[-1] == "train-content"


def test_runs_are_averaged_column_by_column(look_dir):
    import torch

    from trainer.export import generator_from_package
    from trainer.data import UnpairedCrops
    from trainer.evaluate import load_folder
    base = generator_from_package(sdk.load_package())
    look = list(load_folder(look_dir).values())
    content = photos.load_set(photos.CONTENT[:2])
    averaged, histories = add_style.train_averaged(base, 1, content, look, runs=2, iterations=2, seed=0, progress=False)
    assert len(histories) == 2 and all(len(h) == 2 for h in histories)
    singles = []
    for seed in (0, 1):
        model = add_style.widen(base, 1)
        add_style.train_new_style(model, UnpairedCrops(content, [look], 128, seed), iterations=2, seed=seed,
                                  progress=False)
        singles.append(model.state_dict())
    assert not torch.equal(singles[0]["out_affine.to_beta.weight"], singles[1]["out_affine.to_beta.weight"])
    for key, value in averaged.state_dict().items():
        if is_style_column_weight(key):
            np.testing.assert_allclose(value[:, -1].numpy(), ((singles[0][key][:, -1] + singles[1][key][:, -1]) / 2).numpy(),
                                       rtol=1e-5, atol=1e-7, err_msg=key)
            np.testing.assert_array_equal(value[:, :-1].numpy(), base.state_dict()[key].numpy()
                                          if key in base.state_dict() else np.zeros_like(value[:, :-1].numpy()))


def test_run_zero_reuses_the_crops_closest_style_peeked_at(look_dir):
    """add_style builds run 0's crops once: closest_style's peek leaves them as they were, so the result
    is the one built from fresh crops, bit for bit."""
    import torch

    from trainer.export import generator_from_package
    from trainer.data import UnpairedCrops
    from trainer.evaluate import load_folder
    base = generator_from_package(sdk.load_package())
    look = list(load_folder(look_dir).values())
    content = photos.load_set(photos.CONTENT[:2])
    fresh, _ = add_style.train_averaged(base, 1, content, look, runs=2, iterations=2, seed=0, progress=False)
    data = UnpairedCrops(content, [look], 128, 0)
    add_style.closest_style(base, data, samples=4)
    reused, _ = add_style.train_averaged(base, 1, content, look, runs=2, iterations=2, seed=0, progress=False,
                                         first_data=data)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, reused.state_dict()[key]), key


def test_the_cli_passes_runs_through_and_bad_input_is_one_line(tmp_path, look_dir, capsys):
    from trainer.__main__ import main
    assert main(["add-style", "--name", "new", "--photos", str(look_dir), "--out", str(tmp_path / "z"),
                 "--iterations", "1", "--runs", "0"]) == 2
    assert "--runs 0: need at least 1" in capsys.readouterr().err
    assert main(["add-style", "--name", "new", "--photos", str(tmp_path / "missing"), "--out", str(tmp_path / "z")]) == 1
    assert capsys.readouterr().err.strip() == f"error: --photos {tmp_path / 'missing'}: no such folder"
    assert main(["add-style", "--name", "glow", "--photos", str(look_dir), "--out", str(tmp_path / "z")]) == 1
    assert "style 'glow' is already in" in capsys.readouterr().err
    assert main(["add-style", "--name", "new", "--photos", str(look_dir), "--own-channels", "8",
                 "--out", str(tmp_path / "z")]) == 2
    assert "--own-channels applies to --before/--after and --lut" in capsys.readouterr().err
    assert main(["add-style", "--name", "new", "--lut", "x.cube", "--own-channels", "-1", "--out", str(tmp_path / "z")]) == 2
    assert "--own-channels -1: expected 0 to 64" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_a_creators_folder_is_read_as_they_would_expect(tmp_path):
    """EXIF orientation applied, 16-bit and grey converted, damaged, tiny and other files skipped with why."""
    import cv2
    from PIL import Image
    rgb = cv2.resize(photos.load_photo("astronaut"), (300, 200))
    folder = tmp_path / "look"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(folder / "portrait.jpg", exif=exif.tobytes(), quality=95)
    cv2.imwrite(str(folder / "deep.png"), (rgb[:, :, ::-1].astype(np.uint16) * 257))
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(folder / "tiny.png"), rgb[:40, :60])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("shot on film")
    found, skipped = add_style.load_look_photos(folder)
    assert sorted(found) == ["deep.png", "grey.png", "portrait.jpg"]
    assert found["portrait.jpg"].shape == (300, 200, 3)  # upright: EXIF orientation 6 applied
    assert found["deep.png"].dtype == np.uint8 and np.abs(found["deep.png"].astype(int) - rgb).max() <= 1
    assert found["grey.png"].shape == (200, 300, 3)
    assert skipped["tiny.png"].startswith("60x40: smaller than 128 px")
    assert "could not be decoded" in skipped["broken.jpg"] and "not an image type" in skipped["notes.txt"]
    with pytest.raises(ValueError, match=r"holds 3 usable photos.*skipped broken.jpg: could not be decoded"):
        add_style.add_style(None, "new", folder, tmp_path / "out", iterations=1, progress=False)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        add_style.load_look_photos(tmp_path / "missing")
    assert not (tmp_path / "out").exists()


def test_a_preview_sheet_of_unseen_photos_is_written_beside_the_package(added):
    import cv2
    path = add_style.preview_path(added.path)
    assert path.parent == added.path.parent and path.name == f"{added.path.name}-preview.jpg"
    assert path.name not in added.manifest["files"]
    sheet = cv2.imread(str(path))[:, :, ::-1]
    assert sheet.shape[0] == 4 * (200 + 6)  # one row per bundled held-out photo, none of them trained on
    row = sheet[3:203]
    chelsea = cv2.resize(photos.load_photo("chelsea"), None, fx=200 / 300, fy=200 / 300, interpolation=cv2.INTER_AREA)
    w = chelsea.shape[1] // 4 * 4
    original, styled = row[:, :w].astype(int), row[:, w + 6:2 * w + 6].astype(int)
    assert np.abs(original - cv2.resize(chelsea, (w, 200)).astype(int)).mean() < 4  # JPEG and resize only
    assert np.abs(styled - original).mean() > 2  # the new look, not the photo again


def test_preview_rewrites_only_after_its_interval(tmp_path):
    from trainer.export import generator_from_package
    model = add_style.widen(generator_from_package(sdk.load_package()))
    preview = add_style.Preview(tmp_path / "p.jpg", every_s=3600)
    preview.maybe(model)
    assert not (tmp_path / "p.jpg").exists()
    preview.every_s = 0.0
    preview.maybe(model)
    assert (tmp_path / "p.jpg").stat().st_size > 10_000


def test_the_live_estimate_reads_zero_for_the_photo_and_one_for_the_look():
    import torch
    from trainer.data import UnpairedCrops
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    target = (x * 0.5 + 0.3).clamp(-1, 1)
    for kwargs in ({"target": target}, {"look_moments": UnpairedCrops.moments_of(target)}):
        assert add_style.LiveEstimate().update(x, x, **kwargs) == pytest.approx(0.0, abs=1e-6)
        assert add_style.LiveEstimate().update(x, target, **kwargs) == pytest.approx(1.0, abs=1e-6)
        halfway = add_style.LiveEstimate().update(x, (x + target) / 2, **kwargs)
        assert 0.3 < halfway < 0.7, (kwargs.keys(), halfway)
    live = add_style.LiveEstimate(decay=0.5)
    live.update(x, x, target=target)
    assert live.update(x, target, target=target) == pytest.approx(0.5)  # an average of the batches


def test_the_cli_turns_the_grade_teacher_off_and_demo_photos_take_the_demo_look(tmp_path, monkeypatch, capsys):
    from trainer.__main__ import main
    calls = {}
    monkeypatch.setattr(add_style, "demo_look_photos", lambda folder, look: calls.setdefault("look", look))
    monkeypatch.setattr(add_style, "add_style", lambda *args, **kwargs: calls.setdefault("kwargs", kwargs) and 1 / 0)
    with pytest.raises(ZeroDivisionError):  # stops the run once the arguments are seen
        main(["add-style", "--name", "new", "--demo-photos", str(tmp_path), "--demo-look", "warm_grade",
              "--no-grade-teacher", "--out", str(tmp_path / "z")])
    assert calls["look"] == "warm_grade" and calls["kwargs"]["grade_teacher"] is False
    assert main(["add-style", "--name", "new", "--lut", "x.cube", "--no-grade-teacher", "--out", str(tmp_path / "z")]) == 2
    assert "--no-grade-teacher applies to --photos" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()
