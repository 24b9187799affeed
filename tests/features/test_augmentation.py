import numpy as np
import pytest

from cnnsvm.exceptions import ConfigError
from cnnsvm.features import CNNFeatureExtractor
from cnnsvm.features.augmentation import RandomElasticDistortion, build_augmentation
from tests.conftest import blobs_images


def ramps(n, size=28):
    """Images whose two channels read each pixel's column and row: a sample's value is its position."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.broadcast_to(np.stack([cols, rows], axis=-1), (n, size, size, 2)).copy()


def displacements(layer, n=16, size=28):
    """The horizontal and vertical displacement fields the layer drew, (n, size, size) each, read from
    inside the frame (a bilinear sample of a ramp is its position exactly where its four neighbours exist)."""
    x = ramps(n, size)
    out = np.asarray(layer(x, training=True))
    inner = (slice(None), slice(6, size - 6), slice(6, size - 6))
    return (out[..., 0] - x[..., 0])[inner], (out[..., 1] - x[..., 1])[inner]


def test_elastic_distortion_draws_independent_smooth_fields_per_image():
    dx, dy = displacements(RandomElasticDistortion(seed=0))
    for field in (dx, dy):
        assert 0.5 < field.std() < 3.0  # about 1.4 pixels at alpha 34, sigma 4
        # Smooth: neighbouring pixels move together.
        assert np.corrcoef(field[:, :, :-1].ravel(), field[:, :, 1:].ravel())[0, 1] > 0.9
    # Keras's RandomElasticTransform draws both fields from one seed: dx == dy, a correlation of 1.0.
    assert abs(np.corrcoef(dx.ravel(), dy.ravel())[0, 1]) < 0.3
    # Each image gets its own field.
    per_image = dx.reshape(len(dx), -1)
    assert abs(np.corrcoef(per_image[0], per_image[1])[0, 1]) < 0.5
    # The scale follows alpha.
    weak, _ = displacements(RandomElasticDistortion(alpha=17.0, seed=0))
    assert weak.std() == pytest.approx(dx.std() / 2, rel=0.05)


def test_elastic_distortion_is_reproducible_and_off_outside_training():
    x = ramps(4)
    a = np.asarray(RandomElasticDistortion(seed=3)(x, training=True))
    b = np.asarray(RandomElasticDistortion(seed=3)(x, training=True))
    c = np.asarray(RandomElasticDistortion(seed=4)(x, training=True))
    np.testing.assert_allclose(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(np.asarray(RandomElasticDistortion(seed=3)(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(RandomElasticDistortion(alpha=0.0, seed=3)(x, training=True)), x)


def test_elastic_distortion_keeps_the_stroke_and_fills_the_border_with_background():
    x = np.zeros((32, 28, 28, 1), np.float32)
    x[:, 8:20, 12:16] = 1.0
    out = np.asarray(RandomElasticDistortion(seed=0)(x, training=True))
    ink = out.sum(axis=(1, 2, 3)) / x[0].sum()
    assert np.all((ink > 0.5) & (ink < 2.0))  # stretched or squeezed locally, never lost
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    assert not np.allclose(out, x)
    full = np.asarray(RandomElasticDistortion(alpha=300.0, seed=0)(np.ones((8, 28, 28, 1), np.float32), training=True))
    assert full.min() == 0.0  # positions pushed outside the frame read background, not a wrapped or edge pixel


def test_elastic_distortion_leaves_the_images_it_does_not_draw_as_they_are():
    x = ramps(400, size=12)
    out = np.asarray(RandomElasticDistortion(rate=0.5, seed=1)(x, training=True))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert 0.4 < kept.mean() < 0.6  # each image drawn on its own, about half distorted
    assert not np.any(np.all(np.abs(out[~kept] - x[~kept]) < 1e-6, axis=(1, 2, 3)))


def test_build_augmentation_adds_the_elastic_layer_last_and_keeps_the_other_draws():
    plain = build_augmentation(1.0, seed=5)
    with_elastic = build_augmentation(1.0, seed=5, elastic=1.0)
    assert isinstance(with_elastic.layers[-1], RandomElasticDistortion)
    assert with_elastic.layers[-1].alpha == 34.0 and with_elastic.layers[-1].rate == 0.5
    # The affine layers draw what they drew without it (results of earlier runs stay reproducible).
    assert [layer.seed for layer in with_elastic.layers[:4]] == [layer.seed for layer in plain.layers]
    assert with_elastic.layers[-1].seed not in [layer.seed for layer in plain.layers]
    only = build_augmentation(0.0, seed=5, elastic=0.5)
    assert len(only.layers) == 1 and only.layers[0].alpha == 17.0
    assert build_augmentation(0.0, elastic=0.0) is None
    with pytest.raises(ConfigError, match="elastic"):
        build_augmentation(1.0, elastic=-1)
    for bad in (dict(sigma=0.0), dict(alpha=-1.0), dict(rate=1.5)):
        with pytest.raises(ConfigError, match="sigma > 0"):
            RandomElasticDistortion(**bad)


def test_a_cnn_trains_with_elastic_distortion(monkeypatch):
    # Training steps have no batch size at trace time: the layer must build its gathers from dynamic shapes.
    calls = []
    original = RandomElasticDistortion.call

    def spy(self, images, training=False):
        calls.append(bool(training))
        return original(self, images, training=training)

    monkeypatch.setattr(RandomElasticDistortion, "call", spy)
    X, y = blobs_images(n_per_class=40, size=16)
    ext = CNNFeatureExtractor(architecture="small", epochs=8, batch_size=32, elastic=1.0, random_state=0)
    ext.fit(X / 255.0, y)
    assert True in calls  # the training steps ran through the distortion
    assert (ext.softmax(X / 255.0).argmax(1) == y).mean() > 0.9
    calls.clear()
    CNNFeatureExtractor(architecture="small", epochs=1, batch_size=32, random_state=0).fit(X / 255.0, y)
    assert calls == []  # and only where asked for


def test_augmentation_changes_training_images_only():
    aug = build_augmentation(1.0, seed=0)
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 10:18, 12:16] = 1.0
    assert not np.allclose(np.asarray(aug(x, training=True)), x)
    assert np.allclose(np.asarray(aug(x, training=False)), x)
    assert build_augmentation(0) is None
    with pytest.raises(ConfigError):
        build_augmentation(-1)


def test_augmentation_moves_the_stroke_a_little_reproducibly():
    # Each view is a mild transform of the character: the ink stays (about the same amount,
    # still inside the frame) and moves by a few pixels; the same seed gives the same views.
    x = np.zeros((64, 28, 28, 1), np.float32)
    x[:, 8:20, 12:16] = 1.0
    views = np.asarray(build_augmentation(1.0, seed=0)(x, training=True))
    again = np.asarray(build_augmentation(1.0, seed=0)(x, training=True))
    other = np.asarray(build_augmentation(1.0, seed=1)(x, training=True))
    np.testing.assert_allclose(views, again)
    assert not np.allclose(views, other)
    ink = views.sum(axis=(1, 2, 3)) / x[0].sum()
    assert np.all((ink > 0.6) & (ink < 1.6))  # no view lost or doubled its ink
    rows = np.arange(28)[None, :, None, None]
    centre = (views * rows).sum(axis=(1, 2, 3)) / views.sum(axis=(1, 2, 3))
    assert np.all(np.abs(centre - 13.5) < 5)  # shifted, not thrown out of the frame
    assert np.std(centre) > 0.1  # and the views differ from each other


def test_augmentation_layers_draw_independently():
    # With one shared seed every layer drew the same random numbers: rotation angle and zoom
    # factor were perfectly correlated (r = 1.0). Each layer must get its own draws.
    aug = build_augmentation(1.0, seed=0)
    rotation, zoom, shift, shear = aug.layers
    x = np.zeros((512, 28, 28, 1), np.float32)
    angle = np.ravel(rotation.get_random_transformation(x, training=True)["angle"])
    factor = np.ravel(zoom.get_random_transformation(x, training=True)["height_zoom"])
    assert np.std(angle) > 0 and np.std(factor) > 0
    assert abs(np.corrcoef(angle, factor)[0, 1]) < 0.2
    seeds = [layer.seed for layer in aug.layers]
    assert len(set(seeds)) == 4
    assert seeds == [layer.seed for layer in build_augmentation(1.0, seed=0).layers]  # reproducible
    assert seeds != [layer.seed for layer in build_augmentation(1.0, seed=1).layers]
