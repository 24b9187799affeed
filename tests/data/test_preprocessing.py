import numpy as np
import pytest

from cnnsvm.data.preprocessing import (
    DARK_INK_BORDER,
    LIGHT_INK_BORDER,
    ImagePreprocessor,
    as_image_batch,
    border_brightness,
    guess_ink,
    image_polarities,
    ink_fill_fraction,
    pad_to_square,
    prepare_image,
    resize_batch,
    scale_pixels,
)
from cnnsvm.exceptions import ConfigError, DataError


def test_flat_square_rows_become_images_and_non_square_is_refused():
    assert as_image_batch(np.zeros((3, 64))).shape == (3, 8, 8)
    with pytest.raises(DataError, match="not a square image"):
        as_image_batch(np.zeros((3, 60)))
    with pytest.raises(DataError, match="shape"):
        as_image_batch(np.zeros((3, 4, 4, 3)))


def test_scale_pixels_follows_the_dtype_and_refuses_floats_above_one():
    img = np.array([[0, 128, 255]], np.uint8)
    assert np.allclose(scale_pixels(img), [[0, 128 / 255, 1]])
    assert np.array_equal(scale_pixels(img.astype(np.int64)), scale_pixels(img))
    assert np.array_equal(scale_pixels(img / 255.0), scale_pixels(img))  # floats are [0, 1]
    assert np.allclose(scale_pixels(np.array([[0.0, 0.5, 1.0]])), [[0, 0.5, 1]])
    with pytest.raises(DataError, match="NaN"):
        scale_pixels(np.array([[np.nan, 1.0]]))
    with pytest.raises(DataError, match=r"float pixels must lie in \[0, 1\].*divide them by 255"):
        scale_pixels(img.astype(float))  # a float copy of 0..255 pixels is refused, not guessed
    with pytest.raises(DataError, match="0..255"):
        scale_pixels(np.array([[-3, 300]]))


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
    halves = np.zeros((4, 8, 8), np.uint8)
    halves[:, :, 4:] = 255  # half dark, half light: the border cannot tell the polarity
    with pytest.raises(DataError, match="cannot tell the ink polarity.*ink='light'"):
        ImagePreprocessor(image_size=16).fit(halves)
    prep = ImagePreprocessor(image_size=16, ink="light").fit(X)
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


def _strokes(n=12, size=12, seed=0):
    """Light-ink images: a bright bar on a dark, noisy background."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, (n, size, size)).astype(np.uint8)
    for i, img in enumerate(images):
        row = 3 + i % 6
        img[row : row + 2, 2 : size - 2] = 255
    return images


def test_one_image_reads_the_same_alone_and_in_any_batch():
    images = _strokes()
    prep = ImagePreprocessor(image_size=12).fit(images)
    floats = images / 255.0
    together = prep.transform(floats)
    alone = np.concatenate([prep.transform(floats[i : i + 1]) for i in range(len(floats))])
    assert np.array_equal(together, alone)
    assert np.array_equal(together, prep.transform(images))  # float [0, 1] == uint8, bit for bit
    # a float batch that mixes [0, 1] and 0..255 images is refused, not read two ways
    mixed = np.concatenate([floats[:9], images[9:10].astype(float)])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        prep.transform(mixed)


def test_preprocessor_records_and_converts_ink_polarity():
    light = _strokes()
    dark = 255 - light
    from_light = ImagePreprocessor(image_size=12).fit(light)
    from_dark = ImagePreprocessor(image_size=12).fit(dark)
    assert from_light.ink_ == "light" and from_dark.ink_ == "dark"
    # the network always sees light ink: both read both polarities alike
    reference = from_light.transform(light)
    for prep in (from_light, from_dark):
        assert np.allclose(prep.transform(dark), reference, atol=1e-6)
        assert np.allclose(prep.transform(light), reference, atol=1e-6)
    assert from_dark.fill_fraction_ == pytest.approx(from_light.fill_fraction_)
    # a declared polarity is obeyed, image by image, without guessing
    declared = ImagePreprocessor(image_size=12, ink="dark").fit(dark)
    assert declared.ink_ == "dark"
    assert np.allclose(declared.transform(dark), reference, atol=1e-6)
    assert not np.allclose(declared.transform(light), reference, atol=0.1)
    # a flat image's polarity cannot be told: it is taken in the training polarity
    flat = np.full((1, 12, 12), 200, np.uint8)
    assert image_polarities(flat).tolist() == [""]
    assert np.allclose(from_dark.transform(flat), 1 - 200 / 255, atol=1e-6)
    assert np.allclose(from_light.transform(flat), 200 / 255, atol=1e-6)
    with pytest.raises(ConfigError, match="ink must be one of"):
        ImagePreprocessor(ink="black").fit(light)
    contract = from_dark.input_contract()
    assert contract["ink"] == "dark" and contract["ink_mode"] == "auto" and contract["network_ink"] == "light"
    assert "0..255" in contract["pixels"] and "[0, 1]" in contract["pixels"]


def test_polarity_thresholds_separate_light_and_dark_datasets():
    from cnnsvm.data.sklearn_digits import load_digits_dataset

    digits = load_digits_dataset().images
    assert set(image_polarities(digits)) == {"light"}
    assert set(image_polarities(255 - digits)) == {"dark"}
    assert np.nanmax(border_brightness(digits)) < LIGHT_INK_BORDER < DARK_INK_BORDER
