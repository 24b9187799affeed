"""Spatial features: the embedding followed by the last blocks' grid means, read through a frozen extractor."""

import pickle

import keras
import numpy as np
import pytest

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features import CNNFeatureExtractor, ExtractorEnsemble, FrozenExtractor
from cnnsvm.features.spatial import _grid_means
from cnnsvm.pipeline import make_hybrid
from tests.conftest import blobs_images

FAST = dict(architecture="small", epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    X, y = blobs_images()
    X = (X / 255.0).astype(np.float32)
    return CNNFeatureExtractor(**FAST).fit(X, y), X, y


def _block_outputs(ext, X):
    net = ext._inference_network()
    pools = [layer.output for layer in net.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    # float32 like the library (the network may run in bfloat16: means of bf16 values differ in the 3rd digit)
    return [np.asarray(a, dtype=np.float32) for a in keras.Model(net.input, pools)(X[..., None])]


def test_spatial_features_are_the_embedding_then_each_block_averaged_over_quadrants(fitted):
    ext, X, _ = fitted
    spatial = ext.spatial_features(X)
    embedding = ext.transform(X)
    # small network on 12x12: blocks of 8 and 16 channels, pooled to 6x6 and 3x3; 2x2 cells each
    assert spatial.shape == (len(X), 32 + 8 * 4 + 16 * 4) and ext.n_spatial_features_ == spatial.shape[1]
    assert np.allclose(spatial[:, :32], embedding, atol=1e-5)
    first, second = _block_outputs(ext, X)
    assert first.shape[1:] == (6, 6, 8) and second.shape[1:] == (3, 3, 16)
    expected = [first[:, :3, :3].mean(axis=(1, 2)), first[:, :3, 3:].mean(axis=(1, 2))]
    expected += [first[:, 3:, :3].mean(axis=(1, 2)), first[:, 3:, 3:].mean(axis=(1, 2))]
    # a 3-wide map: the middle row and column belong to both halves
    expected += [second[:, :2, :2].mean(axis=(1, 2)), second[:, :2, 1:].mean(axis=(1, 2))]
    expected += [second[:, 1:, :2].mean(axis=(1, 2)), second[:, 1:, 1:].mean(axis=(1, 2))]
    assert np.allclose(spatial[:, 32:], np.hstack(expected), atol=1e-5)
    names = ext.spatial_feature_names_out()
    assert len(names) == spatial.shape[1]
    assert names[0] == "embedding0" and names[32] == "block1_cell0_ch0" and names[-1] == "block2_cell3_ch15"


def test_a_map_narrower_than_the_grid_is_averaged_whole():
    x = np.arange(2 * 1 * 4 * 3, dtype=np.float32).reshape(2, 1, 4, 3)
    out = np.asarray(_grid_means(keras.ops.convert_to_tensor(x), 2))
    # one row: two cells, the left and right halves of the row
    assert np.allclose(out, np.hstack([x[:, :, :2].mean(axis=(1, 2)), x[:, :, 2:].mean(axis=(1, 2))]))


def test_the_softmax_head_reads_the_embedding_columns_of_either_width(fitted):
    ext, X, _ = fitted
    assert np.allclose(ext.softmax_from_features(ext.spatial_features(X)), ext.softmax(X), atol=1e-5)
    with pytest.raises(DataError, match="spatial_features"):
        ext.softmax_from_features(np.zeros((2, 40), np.float32))


def test_frozen_extractor_hands_on_the_features_asked_for(fitted):
    ext, X, y = fitted
    flat = X.reshape(len(X), -1)
    frozen = FrozenExtractor(ext, features="spatial").fit(flat, y)
    assert np.allclose(frozen.transform(flat), ext.spatial_features(X), atol=1e-5)
    assert list(frozen.get_feature_names_out()) == list(ext.spatial_feature_names_out())
    views = FrozenExtractor(ext, train_views="augmented", features="spatial").fit_transform(flat, y)
    assert views.shape == (len(X), 128) and not np.allclose(views, frozen.transform(flat))
    with pytest.raises(ConfigError, match="features must be one of"):
        FrozenExtractor(ext, features="pixels").fit(flat, y)


def test_an_ensemble_hands_on_its_members_spatial_features_side_by_side(fitted):
    ext, X, y = fitted
    other = CNNFeatureExtractor(**{**FAST, "random_state": 1}).fit(X, y)
    ensemble = ExtractorEnsemble([ext, other])
    assert not hasattr(ensemble, "n_spatial_features_")  # known once fitted
    ensemble.fit()
    spatial = ensemble.spatial_features(X)
    np.testing.assert_allclose(spatial, np.hstack([ext.spatial_features(X), other.spatial_features(X)]), atol=1e-6)
    names = ensemble.spatial_feature_names_out()
    assert len(names) == spatial.shape[1] == ensemble.n_spatial_features_ == 2 * 128
    assert names[0] == "m0_embedding0" and names[128] == "m1_embedding0" and names[-1] == "m1_block2_cell3_ch15"
    # the softmax of either width: each member's head reads its own block's first (embedding) columns
    expected = np.mean([ext.softmax(X), other.softmax(X)], axis=0)
    np.testing.assert_allclose(ensemble.softmax_from_features(spatial), expected, atol=1e-5)
    np.testing.assert_allclose(ensemble.softmax_from_features(ensemble.transform(X)), expected, atol=1e-5)
    with pytest.raises(DataError, match="spatial_features"):
        ensemble.softmax_from_features(spatial[:, :100])
    images = (X * 255).astype(np.uint8)
    hybrid = make_hybrid(ensemble, image_size=12, features="spatial", label_offset=0).fit(images, y)
    assert hybrid[:2].transform(images).shape == (len(X), 256)
    assert hybrid.softmax_weight_ == 0.5 and hybrid.score(images, y) > 0.9


def test_spatial_features_of_an_extractor_without_them_are_refused(fitted):
    from sklearn.decomposition import PCA

    _, X, y = fitted
    flat = X.reshape(len(X), -1)
    with pytest.raises(ConfigError, match='features="spatial" needs a CNNFeatureExtractor or an ExtractorEnsemble'):
        FrozenExtractor(PCA(n_components=3).fit(flat), features="spatial").fit(flat, y)


def test_hybrid_on_spatial_features_fits_predicts_and_round_trips(fitted):
    ext, X, y = fitted
    images = (X * 255).astype(np.uint8)
    hybrid = make_hybrid(ext, image_size=12, features="spatial").fit(images, y)
    assert hybrid[:2].transform(images).shape == (len(X), 128)
    assert hybrid.score(images, y) > 0.9
    again = pickle.loads(pickle.dumps(hybrid))
    assert np.array_equal(again.predict(images), hybrid.predict(images))
    assert np.allclose(again.predict_proba(images), hybrid.predict_proba(images))


def test_the_blend_reads_the_softmax_from_the_embedding_columns_of_spatial_features(fitted):
    ext, X, y = fitted
    images = (X * 255).astype(np.uint8)
    hybrid = make_hybrid(ext, image_size=12, features="spatial", label_offset=0, softmax_weight=0.5).fit(images, y)
    features = hybrid[:2].transform(images)
    svm = hybrid[2:].predict_proba(features)
    expected = 0.5 * svm + 0.5 * ext.softmax(X)
    assert np.allclose(hybrid.predict_proba(images), expected, atol=1e-5)


def test_spatial_features_need_a_fitted_extractor():
    with pytest.raises(ConfigError, match="fitted extractor frozen"):
        make_hybrid(CNNFeatureExtractor(**FAST), image_size=12, features="spatial")


def test_a_frozen_extractor_pickled_before_the_parameter_existed_reads_the_embedding(fitted):
    ext, X, y = fitted
    flat = X.reshape(len(X), -1)
    frozen = FrozenExtractor(ext).fit(flat, y)
    state = frozen.__getstate__()
    state.pop("features")  # as written by an older cnnsvm
    old = FrozenExtractor.__new__(FrozenExtractor)
    old.__setstate__(state)
    assert old.features == "embedding"
    assert np.allclose(old.transform(flat), ext.transform(flat))
