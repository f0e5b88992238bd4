"""Acceptance: the shipped looks, through the SDK, as a user gets them.

Two tiers. On the bundled held-out photos (always here, no download), every style must close a
large share of the way to its look and beat both classical colour-transfer baselines fitted on
the bundled training photos: bars the untouched photo (closure 0) and a tint fail. On the photo
corpus's test split (``python -m trainer photos fetch``; skipped where it has not been fetched),
the bars of the looks issue: mean closure >= 0.75 and above the baselines, no photo below 0.5,
and for the sketch edge correlation >= 0.8 and saturation <= 8/255.
"""
import pytest

from trainer import closure, corpus, evaluate, looks, photos

# Bundled tier: four held-out photos, baselines fitted on six plain and six look-side photos.
BUNDLED_MIN_CLOSURE = 0.5


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
        assert entry["model"]["mean"] >= BUNDLED_MIN_CLOSURE, (precision, style, entry["model"])
        assert entry["model"]["mean"] > entry["baseline"]["mean"], (precision, style, entry["baseline"])


@pytest.mark.parametrize("style", ["glow", "vintage", "sketch", "cartoon"])
def test_style_meets_the_looks_bars_on_the_corpus_test_split(corpus_tables, style):
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
        assert abs(row["baseline"] - bundled["fp32"][style]["baseline"]["mean"]) < 1e-6, style
