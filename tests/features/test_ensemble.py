"""ExtractorEnsemble: members' features side by side, their softmaxes averaged, in a hybrid and a model file."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features import CNNFeatureExtractor, ExtractorEnsemble
from cnnsvm.pipeline import load, make_hybrid, save


def _images(n_classes=3, per_class=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 0.2, (n_classes * per_class, 8, 8)).astype(np.float32)
    y = np.repeat(np.arange(n_classes), per_class)
    for k in range(n_classes):
        X[y == k, 1 + 2 * k, 1:-1] = 1.0  # class k: a bright row at 1 + 2k
    return X.reshape(len(X), -1), y


@pytest.fixture(scope="module")
def members():
    X, y = _images()
    fitted = []
    for seed in (0, 1):
        ext = CNNFeatureExtractor(architecture="small", epochs=2, batch_size=16, augmentation=0.0, random_state=seed)
        fitted.append(ext.fit(X, y))
    return fitted


def test_features_side_by_side_and_softmax_averaged(members):
    X, _ = _images(seed=1)
    ensemble = ExtractorEnsemble(members).fit()
    features = ensemble.transform(X)
    np.testing.assert_array_equal(features, np.hstack([m.transform(X) for m in members]))
    assert ensemble.widths_ == tuple(m.transform(X[:1]).shape[1] for m in members)
    expected = np.mean([m.softmax(X) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.softmax(X), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ensemble.softmax_from_features(features), expected, rtol=1e-5, atol=1e-6)
    names = ensemble.get_feature_names_out()
    assert names[0] == "m0_embedding0" and names[-1] == f"m1_embedding{ensemble.widths_[1] - 1}"
    assert len(names) == features.shape[1]
    np.testing.assert_array_equal(ensemble.classes_, members[0].classes_)


def test_clone_and_pickle_keep_the_fitted_members(members):
    X, _ = _images(seed=2)
    ensemble = ExtractorEnsemble(members).fit()
    copy = clone(ensemble)
    assert copy.extractors[0] is members[0]  # not unfitted by clone
    np.testing.assert_array_equal(copy.fit().transform(X), ensemble.transform(X))
    again = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_allclose(again.transform(X), ensemble.transform(X), rtol=1e-6)


def test_bad_members_are_refused(members):
    with pytest.raises(ConfigError, match="at least two"):
        ExtractorEnsemble([members[0]]).fit()
    with pytest.raises(ConfigError, match="not fitted"):
        ExtractorEnsemble([members[0], CNNFeatureExtractor()]).fit()
    with pytest.raises(ConfigError, match="not a CNNFeatureExtractor"):
        ExtractorEnsemble([members[0], "model.joblib"]).fit()
    X, y = _images(n_classes=2)
    other = CNNFeatureExtractor(architecture="small", epochs=1, augmentation=0.0, random_state=0).fit(X, y)
    with pytest.raises(ConfigError, match="other classes"):
        ExtractorEnsemble([members[0], other]).fit()
    ensemble = ExtractorEnsemble(members).fit()
    with pytest.raises(DataError, match="expected features of shape"):
        ensemble.softmax_from_features(np.zeros((2, 3)))


def test_hybrid_on_an_ensemble_blends_the_mean_softmax_and_round_trips(members, tmp_path):
    X, y = _images(per_class=15, seed=3)
    images = (X.reshape(-1, 8, 8) * 255).astype(np.uint8)
    hybrid = make_hybrid(ExtractorEnsemble(members).fit(), image_size=8, label_offset=0).fit(images, y)
    assert hybrid.softmax_weight_ == 0.5
    Z = hybrid[:-1].transform(images)  # preprocessed, features, scaled
    svm_proba = hybrid.steps[-1][1].predict_proba(Z)
    soft = np.mean([m.softmax(hybrid.named_steps["preprocess"].transform(images)) for m in members], axis=0)
    np.testing.assert_allclose(hybrid.predict_proba(images), 0.5 * svm_proba + 0.5 * soft, rtol=1e-4, atol=1e-5)
    path = tmp_path / "hybrid.joblib"
    save(hybrid, path)
    loaded, meta = load(path, return_metadata=True)
    assert meta["method"] == "hybrid"
    np.testing.assert_array_equal(loaded.predict(images), hybrid.predict(images))


def test_make_hybrid_freezes_an_ensemble_not_yet_checked(members):
    # Without .fit(), the ensemble is still a frozen extractor: the softmax is blended only with a
    # label_offset, never read at offset 0 as if the pipeline had trained the network.
    X, y = _images(per_class=15, seed=4)
    images = (X.reshape(-1, 8, 8) * 255).astype(np.uint8)
    hybrid = make_hybrid(ExtractorEnsemble(members), image_size=8).fit(images, y)
    assert hybrid.softmax_weight_ == 0.0
    assert isinstance(hybrid.named_steps["cnn"].extractor, ExtractorEnsemble)
    views = make_hybrid(ExtractorEnsemble(members), image_size=8, train_views="augmented", label_offset=0)
    assert views.named_steps["cnn"].train_views == "augmented"


def test_views_of_members_trained_with_other_strengths_need_an_explicit_strength(members):
    from cnnsvm.features import FrozenExtractor

    X, y = _images()
    strong = CNNFeatureExtractor(architecture="small", epochs=1, batch_size=16, augmentation=0.5, random_state=2)
    ensemble = ExtractorEnsemble([members[0], strong.fit(X, y)]).fit()
    with pytest.raises(ConfigError, match="different augmentation strengths"):
        FrozenExtractor(ensemble, train_views="augmented").fit_transform(X)
    plain = FrozenExtractor(ensemble, train_views="images").fit_transform(X)  # no strength needed
    np.testing.assert_array_equal(plain, ensemble.transform(X))
    views = FrozenExtractor(ensemble, train_views="augmented", augmentation=0.5).fit_transform(X)
    assert views.shape == plain.shape and not np.allclose(views, plain)
