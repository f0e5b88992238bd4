"""The looks bar: closure and the classical baselines, on bundled photos (no corpus needed)."""
import numpy as np
import pytest

from trainer import closure, looks, photos


@pytest.fixture(scope="module")
def sets():
    test = {n: closure.eval_size(photos.load_photo(n), 256) for n in ("chelsea", "coffee")}
    plain = [closure.eval_size(photos.load_photo(n), 256) for n in ("astronaut", "rocket")]
    look_side = [closure.eval_size(photos.load_photo(n), 256) for n in ("motorcycle_left", "camera")]
    return test, plain, look_side


def test_identity_scores_zero_and_the_reference_one():
    photo = closure.eval_size(photos.load_photo("coffee"), 256)
    reference = looks.vintage(photo)
    assert closure.closure(photo, photo, reference) == pytest.approx(0.0, abs=1e-12)
    assert closure.closure(reference, photo, reference) == pytest.approx(1.0, abs=1e-12)
    halfway = ((photo.astype(np.float64) + reference) / 2)
    assert closure.closure(halfway, photo, reference) == pytest.approx(0.5, abs=1e-9)


def test_eval_size_keeps_the_aspect_in_multiples_of_four():
    out = closure.eval_size(np.zeros((512, 770, 3), np.uint8))
    assert out.shape == (424, 640, 3)  # 512 * 640 / 770 = 425.5 -> 424


def test_baselines_are_fitted_unpaired_and_the_identity_fails_every_bar(sets):
    test, plain, look_side = sets
    table = closure.closure_table(lambda im, s: im, ["vintage", "sketch"], test, plain, look_side, looks.get_look)
    for style, entry in table.items():
        assert entry["model"]["mean"] == pytest.approx(0.0, abs=1e-9)
        assert set(entry["photos"]) == set(test)
        checks = closure.passes(style, entry)
        assert not checks["closure"] and not checks["worst_photo"]
    # Grey and bright: six numbers of colour statistics move a photo a long way toward the sketch.
    assert table["sketch"]["baseline"]["mean"] > 0.3
    assert table["sketch"]["saturation"] > closure.SKETCH_SATURATION_BAR  # the colour photo itself
    assert "FAIL" in closure.markdown(table)


def test_the_reference_itself_passes_the_sketch_bars(sets):
    test, plain, look_side = sets
    table = closure.closure_table(lambda im, s: looks.get_look(s)(im), ["sketch"], test, plain, look_side,
                                  looks.get_look)
    assert all(closure.passes("sketch", table["sketch"]).values())
    assert table["sketch"]["edge_correlation"] == pytest.approx(1.0)


def test_reinhard_moves_a_photo_to_the_look_sets_statistics(sets):
    test, plain, look_side = sets
    look_set = [looks.vintage(im) for im in look_side]
    baselines = closure.ColourTransferBaselines(plain, look_set)
    moved = baselines.reinhard(test["coffee"])
    mean, std = closure.lab_statistics([moved])
    np.testing.assert_allclose(mean, baselines.look_mean, atol=1.5)  # Lab units; uint8 rounding and clipping
    np.testing.assert_allclose(std, baselines.look_std, atol=1.5)


def test_contact_sheet_rows_are_photos_and_columns_the_looks(sets):
    test, plain, look_side = sets
    table = closure.closure_table(lambda im, s: im, ["glow", "sketch"], test, plain, look_side, looks.get_look)
    sheet = closure.contact_sheet(test, table, height=100)
    assert sheet.dtype == np.uint8
    assert sheet.shape == (28 + 2 * 104, 3 * 154, 3)  # header; 2 rows; original + 2 styles of 150 px + margins


def test_the_best_baseline_includes_a_transfer_fitted_on_the_trainers_balanced_copies():
    def photo(name):
        return closure.eval_size(photos.load_photo(name), 256)
    test = {n: photo(n) for n in ("coffee", "motorcycle_right")}
    plain, look_side = [photo("astronaut"), photo("rocket")], [photo("motorcycle_left"), photo("chelsea")]
    table = closure.closure_table(lambda im, s: im, ["vintage"], test, plain, look_side, looks.get_look)
    for row in table["vintage"]["photos"].values():
        assert row["baseline"] == max(row["reinhard"], row["global_lab"], row["balanced_lab"])
    # Balanced copies share exposure, contrast, saturation and cast on both sides, so the six numbers
    # fitted on them carry vintage's fade and sepia (0.59 measured) far better than on the raw photos (0.19).
    assert table["vintage"]["balanced_lab"]["mean"] > 0.45
    assert table["vintage"]["balanced_lab"]["mean"] > table["vintage"]["global_lab"]["mean"] + 0.2
    assert "global Lab, balanced copies" in closure.markdown(table)


def test_balanced_copies_are_drawn_alike_on_both_sides():
    copies = closure.balanced_copies([closure.eval_size(photos.load_photo("astronaut"), 128)], seed=3)
    assert len(copies) == closure.BALANCED_COPIES
    assert all(c.dtype == np.uint8 and c.shape == copies[0].shape for c in copies)
    again = closure.balanced_copies([closure.eval_size(photos.load_photo("astronaut"), 128)], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(copies, again))  # fixed seed: the same baseline every run


def test_balanced_lab_without_balanced_copies_is_a_clear_error(sets):
    test, plain, look_side = sets
    baselines = closure.ColourTransferBaselines(plain, [looks.vintage(im) for im in look_side])
    with pytest.raises(ValueError, match="balanced copies"):
        baselines.balanced_lab(test["coffee"])
