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
    no_corpus = tmp_path / "no-corpus"
    assert main(["evaluate", "--out", str(tmp_path), "--corpus", str(no_corpus), "--check-bars"]) == 0
    out = capsys.readouterr().out
    assert "| model | style | PSNR to look (dB)" in out and f"wrote {tmp_path / 'report.md'}" in out
    assert "| style | model closure (mean / worst photo) | best baseline |" in out
    assert "the bundled held-out photos (no corpus" in out
    report = json.loads((tmp_path / "report.json").read_text())[0]
    assert list(report["styles"]) == ["glow", "vintage", "sketch", "cartoon"]
    looks = json.loads((tmp_path / "looks.json").read_text())
    for style, row in report["styles"].items():
        assert 0 < row["content_ssim"] <= 1, (style, row)
        assert looks[style]["model"]["mean"] > max(0.5, looks[style]["baseline"]["mean"]), (style, looks[style])
        assert row["warping_error_input"] > 0 and abs(row["warping_error_added"]) < 1.0  # little added flicker
        assert (tmp_path / f"grid_0_{style}.jpg").stat().st_size > 10_000
    assert (tmp_path / "contact_sheet.jpg").stat().st_size > 20_000


