import numpy as np
import pytest

from cnnsvm.classifiers import CNNClassifier
from tests.conftest import blobs_images


def test_cnn_classifier_predicts_string_labels_and_probabilities():
    X, y = blobs_images(n_per_class=40)
    names = np.array(["ka", "kha", "ga"])[y]
    clf = CNNClassifier(architecture="small", epochs=8, batch_size=32).fit(X / 255.0, names)
    proba = clf.predict_proba(X / 255.0)
    assert proba.shape == (len(X), 3)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(clf.predict(X / 255.0)) <= {"ka", "kha", "ga"}
    assert clf.score(X / 255.0, names) > 0.9


def test_article_architecture_trains():
    X, y = blobs_images(n_per_class=10, size=16)
    clf = CNNClassifier(architecture="article", epochs=1, batch_size=16).fit(X / 255.0, y)
    assert clf.network_.get_layer("embedding").output.shape[-1] == 256
    assert clf.predict(X[:3] / 255.0).shape == (3,)


def test_flat_non_square_features_are_one_row_images():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] > 0).astype(int)
    clf = CNNClassifier(architecture="small", epochs=2, batch_size=16, augmentation=0).fit(X, y)
    assert clf.input_shape_ == (1, 5)
    with pytest.raises(ValueError, match="expecting 5 features"):
        clf.predict(X[:, :4])
