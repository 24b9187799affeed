"""Training views: the frozen extractor's fit_transform and the extractor's own."""

import numpy as np
import pytest
from sklearn.base import clone

from cnnsvm.exceptions import ConfigError
from cnnsvm.features import CNNFeatureExtractor, FrozenExtractor, unwrap_extractor
from tests.conftest import blobs_images

FAST = dict(architecture="small", epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    X, y = blobs_images()
    return CNNFeatureExtractor(**FAST).fit(X / 255.0, y), (X / 255.0).reshape(len(X), -1), y


def test_frozen_extractor_fits_later_steps_on_augmented_views(fitted):
    ext, X, y = fitted
    weights = [w.copy() for w in ext.network_.get_weights()]
    frozen = FrozenExtractor(ext, train_views="augmented", random_state=0)
    clean = frozen.fit(X, y).transform(X)
    views = frozen.fit_transform(X, y)
    assert views.shape == clean.shape
    assert not np.allclose(views, clean)  # features of other images than the clean ones
    assert np.allclose(clean, ext.transform(X))
    again = FrozenExtractor(ext, train_views="augmented", random_state=0).fit_transform(X, y)
    assert np.allclose(views, again)  # seeded
    assert np.allclose(FrozenExtractor(ext).fit_transform(X, y), clean)  # the default: the images
    assert all(np.array_equal(a, b) for a, b in zip(weights, ext.network_.get_weights(), strict=True))  # not retrained


def test_frozen_extractor_clones_keep_the_fitted_network(fitted):
    ext, X, y = fitted
    copy = clone(FrozenExtractor(ext, train_views="images"))
    assert copy.extractor is ext and copy.train_views == "images"
    assert unwrap_extractor(copy) is ext and unwrap_extractor(ext) is ext
    with pytest.raises(ConfigError, match="train_views"):
        FrozenExtractor(ext, train_views="noisy").fit(X, y)


def test_extractor_fit_transform_returns_views_and_transform_the_images():
    X, y = blobs_images()
    X = X / 255.0
    ext = CNNFeatureExtractor(**FAST, train_views="augmented")
    views = ext.fit_transform(X, y)
    assert not np.allclose(views, ext.transform(X))
    plain = CNNFeatureExtractor(**FAST)
    assert np.allclose(plain.fit_transform(X, y), plain.transform(X))
    no_aug = CNNFeatureExtractor(**FAST, augmentation=0.0, train_views="augmented")
    assert np.allclose(no_aug.fit_transform(X, y), no_aug.transform(X))
