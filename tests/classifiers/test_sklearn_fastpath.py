"""The guarded fast path: it matches the installed scikit-learn, and falls back when that changes."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn.calibration
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

from cnnsvm.classifiers import _sklearn_fastpath as fastpath
from cnnsvm.classifiers.svm import FastCalibratedClassifierCV, make_svm


@pytest.fixture(autouse=True)
def fresh_check():
    fastpath._problem.cache_clear()
    yield
    fastpath._problem.cache_clear()


def _data(n_classes=4, n=240, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, 6)) + 1.5 * np.eye(n_classes, 6)[y]
    return X, y


def test_installed_sklearn_provides_what_the_fast_path_relies_on():
    # Fails when a scikit-learn release renames or removes what the fast path reads:
    # then raise the version bound in pyproject.toml only after adapting _sklearn_fastpath.
    X, y = _data()
    svc = SVC().fit(X, y)
    assert [a for a in fastpath.SVC_ATTRIBUTES if not hasattr(svc, a)] == []
    assert hasattr(sklearn.calibration, fastpath.SIGMOID_CALIBRATOR)
    model = CalibratedClassifierCV(SVC(), method="sigmoid", cv=3, ensemble=False).fit(X, y)
    calibrated = model.calibrated_classifiers_[0]
    assert [a for a in fastpath.CALIBRATED_ATTRIBUTES if not hasattr(calibrated, a)] == []
    assert all(hasattr(c, a) for c in calibrated.calibrators for a in fastpath.SIGMOID_ATTRIBUTES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastpath.supported()


@pytest.mark.parametrize("method", ["temperature", "sigmoid"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_fast_probabilities_equal_sklearn(method, n_classes):
    X, y = _data(n_classes)
    X_new, _ = _data(n_classes, n=50, seed=1)
    model = make_svm("exact", calibration=method).fit(X, y)
    assert isinstance(model, FastCalibratedClassifierCV)
    expected = CalibratedClassifierCV.predict_proba(model, X_new)
    fast = fastpath.calibrated_proba(model, X_new)
    if method == "temperature" and n_classes == 2:
        assert fast is None  # not covered: scikit-learn's own code runs
    else:
        np.testing.assert_allclose(fast, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X_new), expected, rtol=1e-9, atol=1e-12)


def test_fast_decision_equals_libsvm():
    X, y = _data(5)
    svc = SVC(C=3.0).fit(X, y)
    np.testing.assert_allclose(fastpath.rbf_svc_decision(svc, X), svc.decision_function(X), rtol=1e-10, atol=1e-12)
    assert fastpath.rbf_svc_decision(SVC(kernel="linear").fit(X, y), X) is None
    assert fastpath.rbf_svc_decision(SVC().fit(X, y % 2), X) is None


def _fitted():
    X, y = _data()
    return make_svm("exact", calibration="sigmoid").fit(X, y), X


def test_falls_back_to_public_path_when_sklearn_lacks_a_private_class(monkeypatch):
    model, X = _fitted()
    expected = CalibratedClassifierCV.predict_proba(model, X)
    monkeypatch.delattr(sklearn.calibration, fastpath.SIGMOID_CALIBRATOR)
    fastpath._problem.cache_clear()  # fitting checked it already (FastSVC's decision values)
    with pytest.warns(RuntimeWarning, match="fast SVM prediction is off.*_SigmoidCalibration is gone"):
        assert not fastpath.supported()
    assert fastpath.calibrated_proba(model, X) is None
    assert fastpath.rbf_svc_decision(model.calibrated_classifiers_[0].estimator, X) is None
    np.testing.assert_allclose(model.predict_proba(X), expected)


def test_falls_back_when_the_fast_arithmetic_disagrees(monkeypatch):
    # What a changed meaning of _dual_coef_ or _intercept_ would do: the self-check compares numbers.
    model, X = _fitted()
    expected = CalibratedClassifierCV.predict_proba(model, X)
    original = fastpath._rbf_svc_decision
    monkeypatch.setattr(fastpath, "_rbf_svc_decision", lambda svc, X: original(svc, X) + 0.1)
    fastpath._problem.cache_clear()
    with pytest.warns(RuntimeWarning, match="decision values"):
        assert not fastpath.supported()
    np.testing.assert_allclose(model.predict_proba(X), expected)


def test_models_pickled_under_the_old_class_name_still_load():
    model, X = _fitted()
    old = b"ccnnsvm.classifiers.svm\nCalibratedClassifierCV\n"
    data = pickle.dumps(model, protocol=2)
    assert data.count(b"ccnnsvm.classifiers.svm\nFastCalibratedClassifierCV\n") == 1
    data = data.replace(b"ccnnsvm.classifiers.svm\nFastCalibratedClassifierCV\n", old)
    loaded = pickle.loads(data)
    assert type(loaded) is FastCalibratedClassifierCV
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_a_subclass_with_its_own_decision_values_is_not_taken_for_an_svc():
    from cnnsvm.classifiers.svm import FastSVC

    class Shifted(FastSVC):
        def decision_function(self, X):
            return super().decision_function(X) + 1.0

    X, y = _data(4)
    assert fastpath.rbf_svc_decision(Shifted().fit(X, y), X) is None
    assert fastpath.rbf_svc_decision(FastSVC().fit(X, y), X) is not None


def test_fast_one_vs_one_decision_equals_libsvm_whatever_the_shape():
    X, y = _data(5)
    svc = SVC(C=3.0).fit(X, y)  # decision_function_shape="ovr"
    ovo = SVC(C=3.0, decision_function_shape="ovo").fit(X, y).decision_function(X)
    np.testing.assert_allclose(fastpath.rbf_svc_ovo_decision(svc, X), ovo, rtol=1e-10, atol=1e-12)
    assert fastpath.rbf_svc_ovo_decision(SVC(kernel="linear").fit(X, y), X) is None


def test_fitted_gamma_and_inverse_temperature_are_what_the_models_compute_with():
    from scipy.special import softmax

    X, y = _data(4)
    svc = SVC(gamma="scale").fit(X, y)
    assert fastpath.fitted_gamma(svc) == pytest.approx(1.0 / (X.shape[1] * X.var()))
    model = make_svm("exact", calibration="temperature").fit(X, y)
    beta = fastpath.inverse_temperature(model)
    decision = model.calibrated_classifiers_[0].estimator.decision_function(X)
    np.testing.assert_allclose(softmax(beta * decision, axis=1), model.predict_proba(X), atol=1e-12)
    assert fastpath.inverse_temperature(make_svm("exact", calibration="sigmoid").fit(X, y)) is None
    assert fastpath.inverse_temperature(make_svm("exact", calibration="temperature").fit(X, y % 2)) is None


def test_no_inverse_temperature_when_the_calibrator_no_longer_has_one(monkeypatch):
    # What a renamed beta_ would do: the self-check fails, and nothing reads a wrong temperature.
    X, y = _data(4)
    model = make_svm("exact", calibration="temperature").fit(X, y)
    monkeypatch.setattr(fastpath, "TEMPERATURE_ATTRIBUTE", "renamed_beta_")
    fastpath._problem.cache_clear()
    with pytest.warns(RuntimeWarning, match="temperature calibrator has no renamed_beta_"):
        assert fastpath.inverse_temperature(model) is None
    assert fastpath.fitted_gamma(SVC().fit(X, y)) is None
