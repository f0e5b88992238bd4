"""The photo corpus's rules (licences, duplicates, split) on small made-up inputs: no download."""
import numpy as np
import pytest

from trainer import corpus

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2018 Someone
License: GPL-2+

Files: 16.04/Bridge_by_Sander_Klootwijk.jpg
Copyright: 2018. Sander Klootwijk
License: CC-BY-SA-4.0
"""


def test_licence_prefers_the_files_own_stanza_over_the_wildcard():
    assert corpus._licence_for(DEP5, "usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg") == \
        ("CC-BY-SA-4.0", "2018. Sander Klootwijk")
    assert corpus._licence_for(DEP5, "usr/share/backgrounds/other.jpg") == ("GPL-2+", "2018 Someone")


def test_a_file_without_a_licence_is_refused():
    with pytest.raises(corpus.CorpusError, match="no licence for a.jpg"):
        corpus._licence_for("no stanzas here", "a.jpg")


def test_the_same_picture_at_another_resolution_is_a_duplicate(photos_rgb):
    import cv2
    coffee = photos_rgb["coffee"]
    images = {"big": coffee, "small": cv2.resize(coffee, (200, 133), interpolation=cv2.INTER_AREA),
              "other": photos_rgb["chelsea"], "flipped": np.ascontiguousarray(coffee[:, ::-1])}
    assert corpus.find_duplicates(images) == {"small": "big"}  # the largest copy is kept; a mirror is another picture


def test_split_is_by_picture_deterministic_and_keeps_the_portrait_in_test():
    ids = [f"pkg-photo{i:02d}" for i in range(25)] + ["skimage-astronaut"]
    splits = corpus.assign_splits(ids)
    assert splits == corpus.assign_splits(list(reversed(ids)))
    counts = {s: sum(v == s for v in splits.values()) for s in set(splits.values())}
    assert counts == {"test": corpus.TEST_COUNT, "val": corpus.VAL_COUNT, "train-content": 7, "train-look": 7}
    assert splits["skimage-astronaut"] == "test"


def test_too_few_pictures_to_split():
    with pytest.raises(corpus.CorpusError, match="3 pictures: need at least 14"):
        corpus.assign_splits(["a", "b", "c"])


def test_the_outside_test_set_never_enters(tmp_path):
    with pytest.raises(corpus.CorpusError, match="mate-backgrounds is the outside test set"):
        corpus.fetch(tmp_path, packages={"mate-backgrounds": ()}, log=lambda *_: None)


def test_loading_without_a_corpus_says_how_to_build_it(tmp_path):
    with pytest.raises(corpus.CorpusError, match="python -m trainer photos fetch"):
        corpus.load("test", tmp_path)


def test_an_unknown_split_name_is_an_error_not_an_empty_selection(tmp_path):
    (tmp_path / "manifest.json").write_text('{"photos": []}')
    # demo_pairs once asked for "validation" among other splits and silently got none of those photos.
    with pytest.raises(corpus.CorpusError, match="no split named 'validation'; the corpus's splits are "
                                                 "train-content, train-look, val, test"):
        corpus.load(("train-content", "validation"), tmp_path)
