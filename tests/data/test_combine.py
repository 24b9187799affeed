import numpy as np
import pytest

from cnnsvm.data.combine import combine_datasets
from cnnsvm.data.dataset import ImageDataset
from cnnsvm.exceptions import DataError


def _ds(name, n_classes, side, ink="light", value=200):
    n = 2 * n_classes
    images = np.zeros((n, side, side), np.uint8)
    images[:, side // 4 : -side // 4, side // 2] = value
    if ink == "dark":
        images = 255 - images
    return ImageDataset(images, np.arange(n) % n_classes, [f"k{i}" for i in range(n_classes)], name=name, ink=ink)


def test_classes_are_offset_and_prefixed():
    a, b = _ds("a", 2, 8), _ds("b", 3, 8)
    c = combine_datasets([a, b], name="ab")
    assert c.name == "ab" and c.ink == "light"
    assert c.class_names == ["a/k0", "a/k1", "b/k0", "b/k1", "b/k2"]
    np.testing.assert_array_equal(c.labels, np.concatenate([a.labels, b.labels + 2]))
    assert c.extra["parts"] == [("a", 0, 2), ("b", 2, 3)]
    np.testing.assert_array_equal(c.images[:4], a.images)


def test_dark_sets_are_inverted():
    light, dark = _ds("light", 2, 8), _ds("dark", 2, 8, ink="dark")
    c = combine_datasets([light, dark])
    np.testing.assert_array_equal(c.images[4:], light.images)  # same strokes once inverted
    assert c.images[4:, 0, 0].max() == 0


def test_sizes_are_unified_to_largest_side():
    small, big = _ds("small", 2, 8), _ds("big", 2, 16)
    c = combine_datasets([small, big])
    assert c.image_shape == (16, 16) and c.images.dtype == np.uint8
    np.testing.assert_array_equal(c.images[4:], big.images)
    assert c.images[:4].max() > 100  # the small strokes survive the upscaling


def test_duplicate_names_are_refused():
    with pytest.raises(DataError, match="share the name.*digits.*distinct"):
        combine_datasets([_ds("digits", 2, 8), _ds("digits", 2, 8)])


def test_empty_and_wrong_input():
    with pytest.raises(DataError, match="at least one dataset"):
        combine_datasets([])
    with pytest.raises(DataError, match="ImageDataset"):
        combine_datasets([_ds("a", 2, 8), "digits"])
