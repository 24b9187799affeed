"""scikit-learn's own estimator checks, on every public estimator that can take them.

The CNN estimators read flat rows that are not a square number of pixels as one-row
images, so the checks' generic data suit them (with a small architecture). Two
estimators are narrower on purpose, and the checks that feed them generic data are
expected to fail, each with its reason below:

- :class:`ImagePreprocessor` takes images under the pixel contract (square, integers
  0..255 or floats in [0, 1]) and refuses anything else instead of guessing;
- :class:`GenericSoftmaxClassifier` reads a frozen, fitted network: its input size and
  labels are those the network was trained on, and ``fit`` learns nothing from the data.

What those checks would verify is tested on images in tests/data/test_preprocessing.py
and below (pickling, idempotent fit, sample-order and subset invariance).
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from cnnsvm.classifiers import CNNClassifier, GenericSoftmaxClassifier, KernelSVC, RejectOptionClassifier
from cnnsvm.classifiers.pairwise import PairwiseSVC
from cnnsvm.classifiers.svm import GramSVC
from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.features import CNNFeatureExtractor, ExtractorEnsemble

TINY_CNN = dict(architecture="small", epochs=2, batch_size=32, augmentation=0, validation_fraction=0)

NOT_IMAGES = "the checks' data are flat rows of 1-10 floats: not square images under the pixel contract"
PIXEL_RANGE = "the checks' float data lie outside [0, 1]; the pixel contract refuses them rather than guess a scale"
MESSAGE = "the image checks run first, so sklearn's expected wording does not appear: " + NOT_IMAGES

PREPROCESSOR_FAILS = {
    **{
        name: NOT_IMAGES
        for name in (
            "check_fit_score_takes_y",
            "check_estimators_overwrite_params",
            "check_dont_overwrite_parameters",
            "check_estimators_fit_returns_self",
            "check_readonly_memmap_input",
            "check_estimators_dtypes",
            "check_dtype_object",
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_transformer_data_not_an_array",
            "check_transformer_general",
            "check_transformer_preserve_dtypes",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_dict_unchanged",
            "check_fit_idempotent",
            "check_fit_check_is_fitted",
            "check_n_features_in",
            "check_fit2d_predict1d",
            "check_fit2d_1sample",
        )
    },
    **{
        name: PIXEL_RANGE
        for name in ("check_n_features_in_after_fitting", "check_positive_only_tag_during_fit", "check_fit2d_1feature")
    },
    **{
        name: MESSAGE
        for name in (
            "check_complex_data",
            "check_estimators_nan_inf",
            "check_estimator_sparse_tag",
            "check_estimator_sparse_array",
            "check_estimator_sparse_matrix",
        )
    },
}

FROZEN = "a frozen network fitted on 16-pixel images of labels 0..2: the checks' data have other sizes and labels"
LEARNS_NOTHING = "fit selects softmax columns and learns nothing from X (it may even be called without data)"
GENERIC_SOFTMAX_FAILS = {
    **{
        name: FROZEN
        for name in (
            "check_fit_score_takes_y",
            "check_estimators_dtypes",
            "check_complex_data",
            "check_dtype_object",
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_classifier_data_not_an_array",
            "check_classifiers_one_label",
            "check_classifiers_classes",
            "check_supervised_y_2d",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_dict_unchanged",
            "check_fit_idempotent",
            "check_classifiers_regression_target",
        )
    },
    **{
        name: LEARNS_NOTHING
        for name in (
            "check_n_features_in_after_fitting",
            "check_estimators_empty_data_messages",
            "check_estimators_nan_inf",
            "check_estimator_sparse_tag",
            "check_estimator_sparse_array",
            "check_estimator_sparse_matrix",
            "check_classifiers_train",
            "check_n_features_in",
            "check_fit1d",
        )
    },
}


def _generic_softmax():
    rng = np.random.RandomState(0)
    extractor = CNNFeatureExtractor(**{**TINY_CNN, "epochs": 1}).fit(rng.rand(30, 16), np.arange(30) % 3)
    return GenericSoftmaxClassifier(FrozenEstimator(extractor))


ENSEMBLE_FITS_NOTHING = "fit checks the fitted members and learns nothing from X (it may even be called without data)"
ENSEMBLE_FAILS = {
    **{
        name: FROZEN
        for name in (
            "check_fit_score_takes_y",
            "check_estimators_dtypes",
            "check_dtype_object",
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_transformer_data_not_an_array",
            "check_transformer_general",
            "check_transformer_preserve_dtypes",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_dict_unchanged",
            "check_fit_idempotent",
        )
    },
    **{
        name: ENSEMBLE_FITS_NOTHING
        for name in (
            "check_complex_data",
            "check_n_features_in",
            "check_n_features_in_after_fitting",
            "check_estimators_empty_data_messages",
            "check_estimators_nan_inf",
            "check_estimator_sparse_tag",
            "check_fit1d",
        )
    },
}


def _ensemble():
    rng = np.random.RandomState(0)
    X, y = rng.rand(30, 16), np.arange(30) % 3
    return ExtractorEnsemble(
        [CNNFeatureExtractor(**{**TINY_CNN, "epochs": 1}, random_state=s).fit(X, y) for s in (0, 1)]
    )


ESTIMATORS = [
    CNNClassifier(architecture="small", epochs=8, batch_size=32, augmentation=0, validation_fraction=0),
    CNNFeatureExtractor(**{**TINY_CNN, "epochs": 1}),  # the transformer checks need no learning
    ImagePreprocessor(image_size=4, ink="light"),
    _generic_softmax(),
    _ensemble(),
    KernelSVC(solver="approx", n_components=50),
    KernelSVC(solver="exact", probability=False),
    GramSVC(),
    PairwiseSVC(),
    RejectOptionClassifier(LogisticRegression(), threshold=0.0),
]


def _expected_failures(estimator):
    if isinstance(estimator, ImagePreprocessor):
        return PREPROCESSOR_FAILS
    if isinstance(estimator, GenericSoftmaxClassifier):
        return GENERIC_SOFTMAX_FAILS
    if isinstance(estimator, ExtractorEnsemble):
        return ENSEMBLE_FAILS
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 40, size=(40, 12, 12), dtype=np.uint8)
    X[:, 4:8, 3:9] = 255  # light strokes: a polarity the preprocessor can tell
    return X


def test_preprocessor_on_images_does_what_the_generic_checks_would(images):
    # What the checks above cannot feed it: pickling, idempotent fit, sample-order and
    # subset invariance, n_features_in_, a fit that leaves the parameters alone.
    prep = ImagePreprocessor(image_size=8)
    params = prep.get_params()
    out = prep.fit(images).transform(images)
    assert prep.get_params() == params and prep.n_features_in_ == 144
    assert out.shape == (40, 64) and out.dtype == np.float32
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(prep)).transform(images), out)
    np.testing.assert_array_equal(clone(prep).fit(images).fit(images).transform(images), out)
    order = np.random.default_rng(1).permutation(len(images))
    np.testing.assert_array_equal(prep.transform(images[order]), out[order])
    np.testing.assert_array_equal(prep.transform(images[:7]), out[:7])
    with pytest.raises(ValueError, match="0 feature"):
        ImagePreprocessor().fit(np.zeros((3, 0)))


def test_generic_softmax_on_its_own_data():
    model = _generic_softmax()
    X = np.random.RandomState(1).rand(12, 16)
    with pytest.raises(Exception, match="not fitted"):
        model.predict(X)
    model.fit(X, np.arange(12) % 3)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, model.extractor.softmax(X), rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(1))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(X), proba)
