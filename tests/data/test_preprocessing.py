import numpy as np
import pytest

from cnnsvm.data.preprocessing import (
    ImagePreprocessor,
    as_image_batch,
    guess_ink,
    ink_fill_fraction,
    pad_to_square,
    prepare_image,
    resize_batch,
    scale_pixels,
)
from cnnsvm.exceptions import DataError


def test_flat_square_rows_become_images_and_non_square_is_refused():
    assert as_image_batch(np.zeros((3, 64))).shape == (3, 8, 8)
    with pytest.raises(DataError, match="not a square image"):
        as_image_batch(np.zeros((3, 60)))
    with pytest.raises(DataError, match="shape"):
        as_image_batch(np.zeros((3, 4, 4, 3)))


def test_scale_pixels_reads_uint8_and_0_255_floats_alike_and_rejects_nan():
    img = np.array([[0, 128, 255]], np.uint8)
    assert np.allclose(scale_pixels(img), [[0, 128 / 255, 1]])
    assert np.allclose(scale_pixels(img.astype(float)), scale_pixels(img))
    assert np.allclose(scale_pixels(np.array([[0.0, 0.5, 1.0]])), [[0, 0.5, 1]])
    with pytest.raises(DataError, match="NaN"):
        scale_pixels(np.array([[np.nan, 1.0]]))
    with pytest.raises(DataError, match="0..255"):
        scale_pixels(np.array([[-3.0, 300.0]]))


def test_resize_keeps_aspect_ratio_by_padding():
    wide = np.zeros((10, 20), np.float32)
    wide[:, :] = 1.0
    square = pad_to_square(wide)
    assert square.shape == (20, 20)
    assert square[:5].sum() == 0 and square[15:].sum() == 0  # padded above and below, not stretched
    out = resize_batch(wide[None], 10)
    assert out.shape == (1, 10, 10)
    assert out[0, 0].max() < 0.5 and out[0, 5].min() > 0.5


def test_guess_ink_reads_the_border():
    dark_on_light = np.full((20, 20), 230, np.uint8)
    dark_on_light[5:15, 9:11] = 10
    assert guess_ink(dark_on_light) == "dark"
    assert guess_ink(255 - dark_on_light) == "light"


def test_prepare_image_inverts_crops_and_centres_a_drawing():
    canvas = np.full((200, 300), 255, np.uint8)  # black stroke on white paper, off centre
    canvas[20:120, 240:250] = 0
    out = prepare_image(canvas, 28, fill_fraction=0.7)
    assert out.shape == (28, 28)
    assert out.max() > 0.9 and out[0].max() < 0.05  # light ink now, empty border
    cols = np.flatnonzero(out.max(axis=0) > 0.5)
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1.5  # centred horizontally
    rows = np.flatnonzero(out.max(axis=1) > 0.5)
    assert 0.55 <= (rows.max() - rows.min() + 1) / 28 <= 0.8  # fills the requested share


def test_prepare_image_refuses_a_blank_drawing():
    with pytest.raises(DataError, match="blank"):
        prepare_image(np.full((50, 50), 255, np.uint8), 28)


def test_ink_fill_fraction_measures_the_character_box():
    imgs = np.zeros((3, 20, 20), np.float32)
    imgs[:, 5:15, 8:12] = 1.0
    assert ink_fill_fraction(imgs) == pytest.approx(0.5)


def test_preprocessor_resizes_scales_and_checks_shape():
    X = np.random.default_rng(0).integers(0, 256, (5, 8, 8)).astype(np.uint8)
    prep = ImagePreprocessor(image_size=16).fit(X)
    out = prep.transform(X)
    assert out.shape == (5, 256) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert prep.input_shape_ == (8, 8) and prep.n_features_in_ == 64
    with pytest.raises(DataError, match="fitted on 8x8"):
        prep.transform(np.zeros((2, 10, 10), np.uint8))
    with pytest.raises(DataError, match="zero samples"):
        prep.transform(np.zeros((0, 8, 8), np.uint8))


def test_prepare_image_bounds_memory_for_long_thin_images():
    thin = np.full((1, 100_000), 255, np.uint8)
    thin[0, 40_000:60_000] = 0
    out = prepare_image(thin, 28)
    assert out.shape == (28, 28) and out.max() > 0
