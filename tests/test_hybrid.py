"""The hybrid's blend of the SVM's probabilities with the CNN's own softmax (cnnsvm.hybrid)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from cnnsvm.exceptions import ConfigError
from cnnsvm.hybrid import AUTO_SOFTMAX_WEIGHT, HybridPipeline
from cnnsvm.pipeline import load, make_hybrid, save


def _parts(model, images):
    """The SVM's probabilities and the extractor's full softmax, computed step by step."""
    steps = model.named_steps
    x = steps["preprocess"].transform(images)
    features = steps["cnn"].transform(x)
    svm_proba = steps["svm"].predict_proba(steps["scale"].transform(features))
    extractor = getattr(steps["cnn"], "extractor", steps["cnn"])
    return svm_proba, extractor.softmax(x)


def test_softmax_from_features_is_the_networks_softmax(fitted_hybrid, digits_split):
    extractor = fitted_hybrid.named_steps["cnn"]
    x = fitted_hybrid.named_steps["preprocess"].transform(digits_split.test.images[:40])
    np.testing.assert_allclose(extractor.softmax_from_features(extractor.transform(x)), extractor.softmax(x), atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        extractor.softmax_from_features(np.zeros((3, 5)))


def test_a_hybrid_that_trains_its_cnn_averages_svm_and_softmax(fitted_hybrid, digits_split):
    images = digits_split.test.images[:60]
    assert isinstance(fitted_hybrid, HybridPipeline) and isinstance(fitted_hybrid, Pipeline)
    assert fitted_hybrid.softmax_weight_ == AUTO_SOFTMAX_WEIGHT == 0.5
    svm_proba, softmax = _parts(fitted_hybrid, images)
    expected = 0.5 * svm_proba + 0.5 * softmax[:, fitted_hybrid.head_columns_]
    proba = fitted_hybrid.predict_proba(images)
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    np.testing.assert_array_equal(fitted_hybrid.predict(images), fitted_hybrid.classes_[expected.argmax(axis=1)])


def test_weight_zero_is_the_svm_alone(fitted_hybrid, digits_split):
    train, images = digits_split.train, digits_split.test.images[:60]
    extractor = fitted_hybrid.named_steps["cnn"]
    plain = make_hybrid(extractor, image_size=16, label_offset=0, softmax_weight=0.0).fit(train.images, train.labels)
    assert plain.softmax_weight_ == 0.0 and plain.head_columns_ is None
    svm_proba, _ = _parts(plain, images)
    np.testing.assert_allclose(plain.predict_proba(images), svm_proba)
    np.testing.assert_array_equal(
        plain.predict(images),
        plain.named_steps["svm"].predict(
            plain.named_steps["scale"].transform(extractor.transform(plain.named_steps["preprocess"].transform(images)))
        ),
    )


def test_a_frozen_extractor_blends_only_with_a_label_offset(fitted_hybrid, digits_split):
    extractor = fitted_hybrid.named_steps["cnn"]
    train = digits_split.train
    # Pretend the extractor saw a generic set whose labels 4..9 are this dataset's 0..5.
    keep = train.labels >= 4
    images, labels = train.images[keep], train.labels[keep] - 4

    alone = make_hybrid(extractor, image_size=16).fit(images, labels)
    assert alone.softmax_weight_ == 0.0  # a frozen extractor's labels may mean other symbols

    blended = make_hybrid(extractor, image_size=16, label_offset=4).fit(images, labels)
    assert blended.softmax_weight_ == 0.5
    np.testing.assert_array_equal(blended.head_columns_, np.arange(4, 10))
    test = digits_split.test.images[:30]
    svm_proba, softmax = _parts(blended, test)
    head = softmax[:, 4:10] / softmax[:, 4:10].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(blended.predict_proba(test), 0.5 * svm_proba + 0.5 * head, atol=1e-6)
    np.testing.assert_allclose(blended.predict_proba(test).sum(axis=1), 1.0, atol=1e-6)

    with pytest.raises(ConfigError, match="label_offset"):
        make_hybrid(extractor, image_size=16, softmax_weight=0.5).fit(images, labels)
    with pytest.raises(ConfigError, match="do not include"):
        make_hybrid(extractor, image_size=16, softmax_weight=0.5, label_offset=8).fit(images, labels)


def test_bad_blend_settings_are_refused_before_training(digits_split):
    train = digits_split.train
    for bad in (1.5, -0.1, "mean", True):
        model = make_hybrid(image_size=16, architecture="small", epochs=50, softmax_weight=bad)
        with pytest.raises(ConfigError, match="softmax_weight"):
            model.fit(train.images, train.labels)  # would take minutes if it trained first
    with pytest.raises(ConfigError, match="probability=True"):
        make_hybrid(image_size=16, probability=False, softmax_weight=0.5)
    assert make_hybrid(image_size=16, probability=False).get_params()["softmax_weight"] == 0.0


def test_clone_pickle_and_save_keep_the_blend(tmp_path, fitted_hybrid, digits_split):
    images = digits_split.test.images[:50]
    assert clone(fitted_hybrid).get_params()["softmax_weight"] == "auto"
    again = pickle.loads(pickle.dumps(fitted_hybrid))
    np.testing.assert_array_equal(again.predict_proba(images), fitted_hybrid.predict_proba(images))
    path = save(fitted_hybrid, tmp_path / "m.joblib")
    loaded = load(path)
    assert isinstance(loaded, HybridPipeline) and loaded.softmax_weight_ == 0.5
    np.testing.assert_array_equal(loaded.predict(images), fitted_hybrid.predict(images))


def test_generic_extractor_labels_map_by_offset(digits_split):
    """A generic extractor over two sets: the second set's hybrid reads the second block of the softmax."""
    from cnnsvm.data.dataset import ImageDataset
    from cnnsvm.experiments.generic import extractor_of, part_of, train_generic_extractor

    train = digits_split.train
    sets = []
    for name, keep in (("low", train.labels < 5), ("high", train.labels >= 5)):
        labels = train.labels[keep] - (0 if name == "low" else 5)
        sets.append(ImageDataset(train.images[keep], labels, [f"{name}{k}" for k in range(5)], name=name))
    generic, combined, _ = train_generic_extractor(
        sets, dict(architecture="small", epochs=2, batch_size=64), image_size=16, random_state=0
    )
    offset, n_classes = part_of(combined.extra["parts"], "high")
    assert (offset, n_classes) == (5, 5)
    extractor = extractor_of(generic)
    model = make_hybrid(extractor, image_size=16, label_offset=offset).fit(sets[1].images, sets[1].labels)
    np.testing.assert_array_equal(model.head_columns_, np.arange(5, 10))
    x = model.named_steps["preprocess"].transform(sets[1].images[:20])
    softmax = extractor.softmax(x)[:, 5:10]
    svm_proba = model.named_steps["svm"].predict_proba(model.named_steps["scale"].transform(extractor.transform(x)))
    expected = 0.5 * svm_proba + 0.5 * softmax / softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(sets[1].images[:20]), expected, atol=1e-6)


def test_predictions_follow_the_steps_as_they_are_now(fitted_hybrid, digits_split):
    """Assembled from fitted steps, or with its SVM refitted on a class the CNN never saw (a taught class)."""
    from sklearn.svm import SVC

    train, images = digits_split.train, digits_split.test.images[:40]
    assembled = HybridPipeline(fitted_hybrid.steps)  # never fitted as a whole
    np.testing.assert_allclose(assembled.predict_proba(images), fitted_hybrid.predict_proba(images))

    steps = fitted_hybrid.named_steps
    features = steps["scale"].transform(steps["cnn"].transform(steps["preprocess"].transform(train.images)))
    taught = np.where(train.labels == 9, 10, train.labels)  # class 10: no softmax column for it
    svm = SVC(probability=True, random_state=0).fit(features, taught)
    refitted = HybridPipeline([*fitted_hybrid.steps[:-1], ("svm", svm)])
    proba = refitted.predict_proba(images)
    assert proba.shape == (len(images), 10)
    np.testing.assert_allclose(
        proba,
        svm.predict_proba(steps["scale"].transform(steps["cnn"].transform(steps["preprocess"].transform(images)))),
    )  # the SVM alone: the head cannot cover class 10


def test_slices_keep_the_blend_only_with_the_cnn_and_the_classifier(fitted_hybrid, digits_split):
    images = digits_split.test.images[:20]
    whole = fitted_hybrid[:]
    assert isinstance(whole, HybridPipeline) and whole.get_params()["softmax_weight"] == "auto"
    np.testing.assert_allclose(whole.predict_proba(images), fitted_hybrid.predict_proba(images))
    for part in (fitted_hybrid[:2], fitted_hybrid[2:]):  # features; the steps after the CNN (a study's fits)
        assert type(part) is Pipeline
    with pytest.raises(ValueError, match="step of 1"):
        fitted_hybrid[::2]


def test_score_and_log_proba_are_the_blends(fitted_hybrid, digits_split):
    """Pipeline.score and predict_log_proba would read the classifier alone: here it answers one class."""
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score

    train, test = digits_split.train, digits_split.test
    extractor = fitted_hybrid.named_steps["cnn"]
    model = make_hybrid(extractor, image_size=16, label_offset=0, softmax_weight=0.5)
    model.set_params(svm=DummyClassifier(strategy="prior")).fit(train.images, train.labels)
    predicted = model.predict(test.images)
    assert model.score(test.images, test.labels) == pytest.approx(accuracy_score(test.labels, predicted))
    alone = model.named_steps["svm"].predict(np.zeros((1, 1)))[0]
    assert model.score(test.images, test.labels) > np.mean(test.labels == alone) + 0.5  # the softmax answers
    weights = (test.labels == predicted[0]).astype(float)
    assert model.score(test.images, test.labels, sample_weight=weights) == pytest.approx(
        accuracy_score(test.labels, predicted, sample_weight=weights)
    )
    np.testing.assert_allclose(np.exp(model.predict_log_proba(test.images[:30])), model.predict_proba(test.images[:30]))
    with pytest.raises(TypeError, match="no extra parameters"):
        model.score(test.images, test.labels, some_param=1)
    plain = make_hybrid(extractor, image_size=16, label_offset=0, softmax_weight=0.0).fit(train.images, train.labels)
    expected = accuracy_score(test.labels, plain.predict(test.images))
    assert plain.score(test.images, test.labels) == pytest.approx(expected)
    # the default calibrated SVM has no predict_log_proba of its own: the pipeline's is still there
    assert not hasattr(plain.named_steps["svm"], "predict_log_proba")
    np.testing.assert_allclose(np.exp(plain.predict_log_proba(test.images[:30])), plain.predict_proba(test.images[:30]))
