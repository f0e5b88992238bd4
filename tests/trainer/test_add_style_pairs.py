"""add-style --before/--after: pairs matched by name, typed errors that list what does not pair, a paired
loss that learns the look (the untouched photo scores 0 on the held-out pairs), and old styles bit-identical."""
import cv2
import numpy as np
import pytest

import sdk
from trainer import add_style, looks, photos


def write_pairs(root, count=6, look=looks.vintage, size=(192, 144)):
    before, after = root / "before", root / "after"
    before.mkdir(parents=True, exist_ok=True)
    after.mkdir(parents=True, exist_ok=True)
    sources = photos.load_set(photos.CONTENT + photos.STYLE)
    for i in range(count):
        rgb = cv2.resize(sources[i % len(sources)], size, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(before / f"img_{i:02d}.jpg"), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(after / f"img_{i:02d}.png"), look(rgb)[:, :, ::-1])  # another format: paired by name
    return before, after


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    before, after = write_pairs(root, count=10)
    package, seconds, scores = add_style.add_style_from_pairs(None, "muted", before, after, root / "pkg",
                                                              iterations=150, crop=96, progress=False)
    return package, scores


def test_pairs_learn_the_look_on_held_out_pairs_and_record_it(learned):
    package, scores = learned
    assert package.style_names == ("glow", "vintage", "sketch", "cartoon", "muted")
    record = package.manifest["added_styles"][-1]
    assert record["source"] == "pairs" and record["pairs"] == 10
    assert record["held_out"] == ["img_00", "img_05"] and sorted(scores) == record["held_out"]
    # The untouched photo scores 0; 150 paired steps of one column get most of the way to a colour grade.
    assert min(scores.values()) > 0.5, scores
    assert record["closure_held_out"]["mean"] == pytest.approx(np.mean(list(scores.values())), abs=1e-4)


def test_pairs_keep_the_old_styles_bit_identical_through_the_sdk(learned, photos_rgb):
    package, _ = learned
    image = photos_rgb["chelsea"]
    for precision in ("fp32", "auto"):  # the new package keeps the variants, so auto serves pruned25 in both
        with sdk.Stylizer(package.path, backend="onnxruntime", precision=precision, color_order="rgb") as new, \
                sdk.Stylizer(backend="onnxruntime", precision=precision, color_order="rgb") as old:
            for style in old.styles:
                np.testing.assert_array_equal(new(image, style=style), old(image, style=style))


def test_unmatched_names_and_different_sizes_are_listed(tmp_path):
    before, after = write_pairs(tmp_path, count=6)
    (before / "img_00.jpg").rename(before / "lonely.jpg")
    rgb = cv2.imread(str(after / "img_01.png"))
    cv2.imwrite(str(after / "img_01.png"), cv2.resize(rgb, (100, 80)))
    with pytest.raises(add_style.PairsError) as info:
        add_style.load_pairs(before, after)
    message = str(info.value)
    assert "lonely.jpg" in message and "img_00.png" in message
    assert "img_01: before is 192x144, after is 100x80" in message


def test_too_few_pairs_and_a_duplicate_name_are_refused_and_nothing_is_written(tmp_path):
    before, after = write_pairs(tmp_path, count=3)
    with pytest.raises(add_style.PairsError, match="3 pairs in .*at least 5"):
        add_style.add_style_from_pairs(None, "new", before, after, tmp_path / "out", iterations=1, progress=False)
    with pytest.raises(ValueError, match="style 'sketch' is already in"):
        add_style.add_style_from_pairs(None, "sketch", before, after, tmp_path / "out", iterations=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_the_cli_wants_both_folders_and_reports_bad_pairs_in_one_line(tmp_path, capsys):
    from trainer.__main__ import main
    before, after = write_pairs(tmp_path, count=3)
    assert main(["add-style", "--name", "new", "--before", str(before), "--out", str(tmp_path / "o")]) == 2
    assert "--before and --after go together" in capsys.readouterr().err
    assert main(["add-style", "--name", "new", "--before", str(before), "--after", str(after),
                 "--photos", str(before), "--out", str(tmp_path / "o")]) == 2
    assert "one of them" in capsys.readouterr().err
    assert main(["add-style", "--name", "new", "--before", str(before), "--after", str(after),
                 "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.strip().startswith("error: 3 pairs in") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
