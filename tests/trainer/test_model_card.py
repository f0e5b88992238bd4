"""The model card: training data by source package and licence, intended use and limits, in the manifest."""
import json
import shutil

import pytest

import sdk
from sdk.cli import main
from trainer import model_card


def corpus_manifest():
    photo = {"path": "x", "copyright": "", "sha256": "0", "file": "images/x.png", "size": [10, 10]}
    return {"photos": [
        {**photo, "id": "a", "source": "debian:pkg-one=1", "licence": "CC0-1.0", "split": "train-content"},
        {**photo, "id": "b", "source": "debian:pkg-one=1", "licence": "CC-BY-4.0", "split": "train-look"},
        {**photo, "id": "c", "source": "pypi:scikit-image==0.26.0", "licence": "public domain", "split": "test"},
    ]}


def test_card_counts_photos_by_source_and_licence():
    card = model_card.build(corpus_manifest())
    assert card["trained_on"].startswith("2 real photographs") and "1 more held out" in card["trained_on"]
    assert card["sources"] == [
        {"source": "debian:pkg-one=1", "photos": 2, "licences": ["CC-BY-4.0", "CC0-1.0"],
         "splits": {"train-content": 1, "train-look": 1}},
        {"source": "pypi:scikit-image==0.26.0", "photos": 1, "licences": ["public domain"], "splits": {"test": 1}}]
    assert card["licences"] == ["CC-BY-4.0", "CC0-1.0", "public domain"]
    assert "mate-backgrounds" in card["not_used"] and card["limits"] and card["intended_use"]


def test_writing_the_card_keeps_every_file_and_checksum(tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(sdk.load_package().path, package)
    corpus = tmp_path / "corpus"
    (corpus / "images").mkdir(parents=True)
    (corpus / "manifest.json").write_text(json.dumps(corpus_manifest()))
    before = json.loads((package / "manifest.json").read_text())
    written = model_card.write(package, corpus)
    after = json.loads((package / "manifest.json").read_text())
    assert after["files"] == before["files"]
    assert after["model_card"]["sources"][0]["source"] == "debian:pkg-one=1"
    assert {k: v for k, v in after.items() if k != "model_card"} == {k: v for k, v in before.items() if k != "model_card"}
    assert sdk.load_package(written.path).style_names == sdk.load_package().style_names


def test_the_shipped_package_has_a_card_and_the_cli_prints_it(capsys):
    card = sdk.load_package().manifest["model_card"]
    assert {"GPL-2+", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0"} <= set(card["licences"])
    assert any(s["source"].startswith("debian:plasma-workspace-wallpapers") for s in card["sources"])
    assert not any("mate" in s["source"] for s in card["sources"])
    assert main(["styles", "--card"]) == 0
    out = capsys.readouterr().out
    assert "Model card of" in out and "debian:plasma-workspace-wallpapers" in out and "GPL-2+" in out
    assert "Intended use:" in out and "Limits:" in out


def test_no_corpus_is_a_clear_error(tmp_path):
    from trainer.corpus import CorpusError
    with pytest.raises(CorpusError, match="no photo corpus at .*: run `python -m trainer photos fetch` first"):
        model_card.write(sdk.load_package().path, tmp_path / "none")
