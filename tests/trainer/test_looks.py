import numpy as np
import pytest

from trainer import looks, photos


@pytest.mark.parametrize("name", sorted(looks.LOOKS))
def test_look_keeps_shape_dtype_and_changes_the_photo(name):
    image = photos.load_photo("astronaut")
    out = looks.get_look(name)(image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image.astype(int)).mean() > 5


def test_glow_is_warm_and_sketch_is_grey():
    image = photos.load_photo("chelsea")
    g = looks.glow(image).astype(float)
    assert g[..., 0].mean() - g[..., 2].mean() > image[..., 0].mean() - image[..., 2].mean()
    s = looks.sketch(image)
    assert np.array_equal(s[..., 0], s[..., 1]) and np.array_equal(s[..., 1], s[..., 2])


def test_unknown_look():
    with pytest.raises(KeyError, match="Unknown look 'glam'. Available: cartoon, glow, ink_sketch, sketch"):
        looks.get_look("glam")


def test_warm_grade_is_warm_film_without_its_grain():
    image = photos.load_photo("coffee")
    grade, film = looks.warm_grade(image).astype(int), looks.warm_film(image).astype(int)
    assert np.array_equal(grade, looks.warm_film(image, grain=0.0))
    # The grain: about 0.02 * 255 = 5 levels of noise, zero on average.
    assert 4.0 < (film - grade).std() < 6.0 and abs((film - grade).mean()) < 0.5


def test_ink_sketch_is_lines_on_cream_paper_unlike_the_pencil_sketch():
    image = photos.load_photo("astronaut")
    ink, pencil = looks.ink_sketch(image).astype(int), looks.sketch(image).astype(int)
    paper = ink[..., 0] > 230  # mostly paper, and the paper is cream: red over green over blue
    assert paper.mean() > 0.5
    r, g, b = (ink[..., c][paper].mean() for c in range(3))
    assert r - g > 8 and g - b > 20
    assert np.abs(ink - pencil).mean() > 10  # a look of its own, not the shipped sketch
