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


def test_evaluate_prints_the_look_table(capsys):
    assert main(["evaluate"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| style | PSNR model -> look")
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["glow", "vintage", "sketch"]
