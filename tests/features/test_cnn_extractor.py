import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features import CNNFeatureExtractor, build_network, resolve_architecture
from tests.conftest import blobs_images

FAST = dict(architecture="small", epochs=3, batch_size=32, random_state=0)


def test_transform_returns_the_embedding_in_batches():
    X, y = blobs_images()
    ext = CNNFeatureExtractor(**FAST, predict_batch_size=7).fit(X / 255.0, y)
    feats = ext.transform(X / 255.0)
    assert feats.shape == (len(X), 32)  # the small preset's embedding width
    assert np.allclose(feats[:7], ext.transform(X[:7] / 255.0), atol=1e-5)  # batching does not change values
    assert ext.history_["loss"] and "val_loss" in ext.history_
    assert list(ext.classes_) == [0, 1, 2]
    assert ext.softmax(X[:4] / 255.0).shape == (4, 3)


def test_training_learns_separable_images():
    X, y = blobs_images(n_per_class=40)
    ext = CNNFeatureExtractor(**{**FAST, "epochs": 8}).fit(X / 255.0, y)
    assert (ext.softmax(X / 255.0).argmax(1) == y).mean() > 0.9


def test_pickle_round_trip_gives_identical_features():
    X, y = blobs_images()
    ext = CNNFeatureExtractor(**FAST).fit(X / 255.0, y)
    copy = pickle.loads(pickle.dumps(ext))
    assert np.array_equal(copy.transform(X / 255.0), ext.transform(X / 255.0))


def test_same_seed_same_weights():
    X, y = blobs_images()
    a = CNNFeatureExtractor(**FAST).fit(X / 255.0, y)
    b = clone(a).fit(X / 255.0, y)
    assert np.allclose(a.transform(X / 255.0), b.transform(X / 255.0), atol=1e-4)


def test_errors_are_clear():
    X, y = blobs_images()
    with pytest.raises(NotFittedError):
        CNNFeatureExtractor().transform(X)
    with pytest.raises(DataError, match="one label per image"):
        CNNFeatureExtractor(**FAST).fit(X, y[:-1])
    with pytest.raises(DataError, match="only one class"):
        CNNFeatureExtractor(**FAST).fit(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match="NaN"):
        CNNFeatureExtractor(**FAST).fit(np.full((6, 4, 4), np.nan), [0, 1] * 3)
    ext = CNNFeatureExtractor(**FAST).fit(X / 255.0, y)
    with pytest.raises(DataError, match="expecting 144 features"):
        ext.transform(np.zeros((2, 10, 10)))
    with pytest.raises(ConfigError, match="unknown architecture"):
        CNNFeatureExtractor(architecture="resnet").fit(X, y)
    with pytest.raises(ConfigError, match="activation"):
        CNNFeatureExtractor(**FAST, activation="tanhh").fit(X, y)


def test_architecture_presets_and_overrides():
    article = resolve_architecture("article")
    net = build_network((28, 28), 10, article)
    names = [type(layer).__name__ for layer in net.layers]
    assert names.count("Conv2D") == 2 and names.count("MaxPooling2D") == 1
    assert net.get_layer("embedding").output.shape[-1] == 256
    custom = resolve_architecture("default", filters=[16, 32, 64], activation="leaky_relu", pooling="avg")
    net = build_network((28, 28), 5, custom)
    names = [type(layer).__name__ for layer in net.layers]
    assert names.count("AveragePooling2D") == 3 and "LeakyReLU" in names
    with pytest.raises(ConfigError, match="unknown architecture parameters"):
        resolve_architecture("default", width=3)


def test_fit_leaves_the_callers_generators_alone_and_takes_a_random_state():
    import random

    from cnnsvm.exceptions import ConfigError

    tiny = dict(architecture="small", epochs=1, batch_size=16, augmentation=0, validation_fraction=0)
    X, y = np.random.RandomState(3).rand(30, 64), np.arange(30) % 3
    np.random.seed(123)
    random.seed(5)
    numpy_state, python_state = np.random.get_state()[1].copy(), random.getstate()
    CNNFeatureExtractor(**tiny, random_state=0).fit(X, y)
    assert np.array_equal(np.random.get_state()[1], numpy_state) and random.getstate() == python_state
    fitted = CNNFeatureExtractor(**tiny, random_state=np.random.RandomState(7)).fit(X, y)
    assert fitted.random_seed_ == np.random.RandomState(7).randint(np.iinfo(np.int32).max)
    assert list(fitted.get_feature_names_out()[:2]) == ["embedding0", "embedding1"]
    assert isinstance(fitted.get_feature_names_out(), np.ndarray)
    with pytest.raises(ConfigError, match="random_state must be an int"):
        CNNFeatureExtractor(**tiny, random_state=np.random.default_rng(0)).fit(X, y)
