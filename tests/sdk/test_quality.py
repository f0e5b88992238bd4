"""Acceptance: every shipped style moves held-out photos toward its look by >= 2 dB PSNR, with the
FP32 model (whose table the manifest records) and with the variant the CPU picks by default."""
import pytest

from trainer import evaluate, photos

MIN_GAIN_DB = 2.0


def measure(precision):
    import sdk
    with sdk.Stylizer(backend="onnxruntime", color_order="rgb", precision=precision) as rgb:
        return evaluate.look_table(lambda image, style: rgb(image, style=style), list(rgb.styles))


@pytest.fixture(scope="module")
def table():
    return measure("fp32")


@pytest.fixture(scope="module")
def auto_table():
    return measure("auto")


@pytest.mark.parametrize("style", ["glow", "vintage", "sketch"])
def test_style_moves_held_out_photos_toward_its_look(table, auto_table, style):
    for name, t in (("fp32", table), ("auto", auto_table)):
        assert t[style]["gain_db"] >= MIN_GAIN_DB, f"{style} ({name}): {t[style]}"


def test_held_out_photos_were_never_training_photos():
    assert not set(photos.HELD_OUT) & (set(photos.CONTENT) | set(photos.STYLE))
    assert not set(photos.CONTENT) & set(photos.STYLE)


def test_shipped_manifest_table_matches_a_fresh_measurement(table):
    import sdk
    recorded = sdk.load_package().manifest["quality"]["look_psnr_held_out"]
    for style in recorded:
        # The manifest was measured in PyTorch, this run in ONNX Runtime: same numbers within rounding.
        assert abs(recorded[style]["gain_db"] - table[style]["gain_db"]) < 0.1
