"""Acceptance: the shipped looks, through the SDK, as a user gets them.

Two tiers, each on the bundled held-out photos (always here, no download) and on the photo corpus's
test split (``python -m trainer photos fetch``; skipped where it has not been fetched). What the
shipped model reaches: each style beats the classical colour-transfer baselines fitted unpaired on the
training photos (the cartoon only on the bundled photos), and keeps its measured closure (floors above
0, so the untouched photo fails). The bars of the looks issue (mean closure >= 0.75 and above the
baselines, no photo below 0.5, sketch edge correlation >= 0.8 and saturation <= 8/255) on the test
split: asserted for the styles that meet them, strict expected failures for the others (the suite
fails when one passes, so that the bar is promoted).
"""
import pytest

from trainer import closure, corpus, evaluate, looks, photos

# Floors: the shipped model's closure (the lower of fp32 and the auto variant, measured 2026-12-07, the
# cartoon's 2026-12-08 after the ink stage, with `python -m trainer evaluate` and the manifest's held-out
# table) less 0.03. Every floor is above 0, so the untouched photo fails each. The looks issue's bars (0.75,
# no photo under 0.5, sketch edges and saturation; the cartoon above every baseline) are met by vintage and
# the sketch on the test split and asserted for them; glow and the cartoon miss them and are held as strict
# expected failures.
BUNDLED_FLOORS = {"glow": 0.62, "vintage": 0.75, "sketch": 0.81, "cartoon": 0.08}
CORPUS_FLOORS = {"glow": 0.58, "vintage": 0.74, "sketch": 0.72, "cartoon": 0.12}
BARS_MET = ["vintage", "sketch"]
BARS_MISSED = ["glow", "cartoon"]
# On the test split the cartoon is level with a six-number Lab transfer fitted on the trainer's balanced
# copies (0.16 FP32 and 0.155 auto against 0.168, the best of three baselines per photo): the strict expected
# failure below holds it; on the bundled photos it beats them all.
BEATS_BASELINES_ON_THE_CORPUS = ["glow", "vintage", "sketch"]


def measure(precision, corpus_root):
    import sdk
    test, plain, look_side, _ = evaluate.looks_sets(corpus_root)
    with sdk.Stylizer(backend="onnxruntime", color_order="rgb", precision=precision) as rgb:
        styles = [s for s in rgb.styles if s in looks.LOOKS]
        return closure.closure_table(lambda image, style: rgb(image, style=style), styles, test, plain, look_side,
                                     looks.get_look)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    absent = tmp_path_factory.mktemp("no-corpus")
    return {p: measure(p, absent) for p in ("fp32", "auto")}


@pytest.fixture(scope="module")
def corpus_tables():
    if not corpus.available():
        pytest.skip(f"no photo corpus at {corpus.cache_dir()}: `python -m trainer photos fetch` builds it")
    return {p: measure(p, None) for p in ("fp32", "auto")}


def test_four_shipped_styles():
    import sdk
    assert sdk.list_styles() == ["glow", "vintage", "sketch", "cartoon"]


@pytest.mark.parametrize("style", ["glow", "vintage", "sketch", "cartoon"])
def test_style_reaches_its_look_on_bundled_held_out_photos(bundled, style):
    for precision, table in bundled.items():
        entry = table[style]
        assert entry["model"]["mean"] >= BUNDLED_FLOORS[style], (precision, style, entry["model"])
        assert entry["model"]["mean"] > entry["baseline"]["mean"], (precision, style, entry["baseline"])


@pytest.mark.parametrize("style", ["glow", "vintage", "sketch", "cartoon"])
def test_style_keeps_its_closure_on_the_corpus_test_split(corpus_tables, style):
    for precision, table in corpus_tables.items():
        entry = table[style]
        assert entry["model"]["mean"] >= CORPUS_FLOORS[style], (precision, style, entry["model"])
        if style in BEATS_BASELINES_ON_THE_CORPUS:
            assert entry["model"]["mean"] > entry["baseline"]["mean"], (precision, style, entry["baseline"])
    if style == "sketch":
        assert table[style]["saturation"] <= closure.SKETCH_SATURATION_BAR


@pytest.mark.parametrize("style", BARS_MET)
def test_style_meets_the_looks_bars_on_the_corpus_test_split(corpus_tables, style):
    for precision, table in corpus_tables.items():
        checks = closure.passes(style, table[style])
        assert all(checks.values()), (precision, style, checks, closure.markdown({style: table[style]}))


@pytest.mark.xfail(strict=True, reason="issue 19 open: these looks miss a bar (see README, The looks)")
@pytest.mark.parametrize("style", BARS_MISSED)
def test_style_misses_the_looks_bars_on_the_corpus_test_split(corpus_tables, style):
    for precision, table in corpus_tables.items():
        checks = closure.passes(style, table[style])
        assert all(checks.values()), (precision, style, checks, closure.markdown({style: table[style]}))


def test_held_out_photos_were_never_training_photos():
    assert not set(photos.HELD_OUT) & (set(photos.CONTENT) | set(photos.STYLE))
    assert not set(photos.CONTENT) & set(photos.STYLE)


def test_shipped_manifest_table_matches_a_fresh_measurement(bundled):
    import sdk
    recorded = sdk.load_package().manifest["quality"]["closure_held_out"]
    assert set(recorded) == set(bundled["fp32"])
    for style, row in recorded.items():
        # The manifest was measured in PyTorch, this run in ONNX Runtime: the same within rounding.
        assert abs(row["model"] - bundled["fp32"][style]["model"]["mean"]) < 0.01, style
        assert abs(row["baseline"] - bundled["fp32"][style]["baseline"]["mean"]) < 1e-4, style  # recorded to 4 places
