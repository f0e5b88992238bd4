import re

from trainer.__main__ import main


def test_info_prints_parameters_and_macs(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    params = int(re.search(r"parameters \(deploy, BatchNorm folded\): ([\d,]+)", out).group(1).replace(",", ""))
    macs_360 = float(re.search(r"MACs per 640x360 frame: ([\d.]+) G", out).group(1))
    macs_720 = float(re.search(r"MACs per 1280x720 frame: ([\d.]+) G", out).group(1))
    assert 10_000 < params < 1_000_000
    assert abs(macs_720 - 4 * macs_360) < 0.01 and macs_720 < 4.0


def test_evaluate_writes_the_report(capsys, tmp_path):
    import json
    assert main(["evaluate", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| model | style | PSNR to look (dB)" in out and f"wrote {tmp_path / 'report.md'}" in out
    report = json.loads((tmp_path / "report.json").read_text())[0]
    assert list(report["styles"]) == ["glow", "vintage", "sketch"]
    for style, row in report["styles"].items():
        assert row["gain_db"] >= 2.0 and 0 < row["content_ssim"] <= 1, (style, row)
        assert row["warping_error_input"] > 0 and abs(row["warping_error_added"]) < 0.5  # little added flicker
        assert row["feature_distance"] < row["feature_distance_untouched"]  # closer to the look by features too
        assert (tmp_path / f"grid_0_{style}.jpg").stat().st_size > 10_000


