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
    with pytest.raises(KeyError, match="Unknown look 'glam'. Available: cartoon, glow, sketch"):
        looks.get_look("glam")


def test_warm_grade_is_warm_film_without_its_grain():
    image = photos.load_photo("coffee")
    grade, film = looks.warm_grade(image).astype(int), looks.warm_film(image).astype(int)
    assert np.array_equal(grade, looks.warm_film(image, grain=0.0))
    # The grain: about 0.02 * 255 = 5 levels of noise, zero on average.
    assert 4.0 < (film - grade).std() < 6.0 and abs((film - grade).mean()) < 0.5
