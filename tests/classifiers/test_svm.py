import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.svm import SVC

from cnnsvm.classifiers import KernelSVC, make_svm
from cnnsvm.classifiers.svm import FastSVC, GramSVC
from cnnsvm.exceptions import ConfigError


def test_auto_solver_switches_on_size():
    X, y = make_classification(n_samples=400, n_features=10, n_informative=6, n_classes=3, random_state=0)
    small = KernelSVC(solver="auto", auto_threshold=1000).fit(X, y)
    large = KernelSVC(solver="auto", auto_threshold=100, n_components=200).fit(X, y)
    assert small.solver_ == "exact" and large.solver_ == "approx"
    assert abs(small.score(X, y) - large.score(X, y)) < 0.1
    assert np.allclose(large.predict_proba(X).sum(1), 1.0)


def test_make_svm_options():
    assert type(make_svm("exact", probability=False)) is FastSVC
    assert isinstance(make_svm("exact"), CalibratedClassifierCV)
    with pytest.raises(ConfigError):
        make_svm("fast")
    with pytest.raises(ConfigError, match="rbf"):
        make_svm("approx", kernel="poly")
    with pytest.raises(ConfigError, match="calibration"):
        make_svm("exact", calibration="isotonic")
    assert make_svm("exact").method == "temperature"


def test_temperature_calibration_keeps_the_svm_ranking():
    # Training features tighter than unseen ones (as a CNN's features of its own training images
    # are): Platt's per-class sigmoids then rank the unseen answers worse than the SVM's own margin;
    # one temperature over all decision values keeps the margin's order, read without rounding.
    from cnnsvm.classifiers.selective import aurc, confidence_score

    rng = np.random.default_rng(0)
    centers = 1.5 * rng.normal(size=(5, 20))
    y_train, y_test = np.repeat(np.arange(5), 80), np.repeat(np.arange(5), 200)
    X_train = centers[y_train] + 0.3 * rng.normal(size=(400, 20))
    X_test = centers[y_test] + 1.5 * rng.normal(size=(1000, 20))
    areas = {}
    for method in ("temperature", "sigmoid"):
        model = make_svm("exact", calibration=method).fit(X_train, y_train)
        proba = model.predict_proba(X_test)
        correct = model.classes_[proba.argmax(1)] == y_test
        areas[method] = aurc(correct, confidence_score(proba))
    decision = np.sort(model.calibrated_classifiers_[0].estimator.decision_function(X_test), axis=1)
    margin = aurc(correct, decision[:, -1] - decision[:, -2])
    assert 0 < correct.sum() < len(correct)
    assert areas["temperature"] <= 1.05 * margin
    assert areas["temperature"] < 0.5 * areas["sigmoid"]


def test_linear_c_of_the_approximation_is_explicit():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0)
    default = KernelSVC(solver="approx", C=20.0, n_components=60, probability=False).fit(X, y)
    assert default.linear_C_ == 2.0  # C / 10, the benchmarked rule
    assert default.estimator_.steps[-1][1].C == 2.0
    chosen = KernelSVC(solver="approx", C=20.0, linear_C=0.05, n_components=60, probability=False).fit(X, y)
    assert chosen.estimator_.steps[-1][1].C == 0.05
    # A different penalty gives a different linear model.
    assert not np.allclose(default.decision_function(X), chosen.decision_function(X))
    assert make_svm("approx", linear_C=0.5).linear_C == 0.5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"C": 0}, "C must be a number > 0"),
        ({"linear_C": -1.0}, "linear_C"),
        ({"n_components": 1.5}, "n_components"),
        ({"gamma": "wide"}, "gamma must be .scale."),
        ({"auto_threshold": True}, "auto_threshold"),
    ],
)
def test_kernel_svc_refuses_bad_parameters_before_fitting(params, message):
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    with pytest.raises(ConfigError, match=message):
        KernelSVC(**params).fit(X, y)


def _blobs(n_classes=4, n=240, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=12, n_informative=8, n_classes=n_classes, n_clusters_per_class=1, random_state=seed
    )
    return X, y


@pytest.mark.parametrize("n_classes", [2, 4])
def test_fast_svc_decision_values_are_the_svcs(n_classes):
    # FastSVC is SVC with its decision values as matrix products (multi-class RBF) or SVC's own
    # (binary): the same values, the same fitted model.
    X, y = _blobs(n_classes)
    fast, plain = FastSVC(C=10.0).fit(X, y), SVC(C=10.0).fit(X, y)
    np.testing.assert_allclose(fast.decision_function(X), plain.decision_function(X), rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(fast.predict(X), plain.predict(X))
    assert fast.get_params() == plain.get_params()


def test_calibration_folds_in_threads_give_the_same_model():
    # n_jobs runs the calibration's folds in threads: the probabilities must not change.
    X, y = _blobs(4, n=300)
    serial = make_svm("exact", n_jobs=None).fit(X, y)
    threaded = make_svm("exact", n_jobs=2).fit(X, y)
    np.testing.assert_allclose(threaded.predict_proba(X), serial.predict_proba(X), atol=1e-12)
    # and equal to scikit-learn's own calibrated SVC (the fast decision values are only faster)
    reference = CalibratedClassifierCV(SVC(C=10.0), method="temperature", cv=3, ensemble=False).fit(X, y)
    np.testing.assert_allclose(serial.predict_proba(X), reference.predict_proba(X), atol=1e-9)


def test_calibration_threads_follow_a_chosen_joblib_backend():
    # prefer="threads" is only a hint: a backend the caller chose with joblib.parallel_config wins.
    from joblib import parallel_config

    X, y = _blobs(3, n=150)
    seen = []

    class Recording(FastSVC):
        def fit(self, X, y, sample_weight=None):
            import threading

            seen.append(threading.current_thread().name)
            return super().fit(X, y, sample_weight=sample_weight)

    from cnnsvm.classifiers.svm import FastCalibratedClassifierCV

    FastCalibratedClassifierCV(Recording(), method="temperature", cv=3, ensemble=False, n_jobs=2).fit(X, y)
    assert any(name != "MainThread" for name in seen)  # folds ran in worker threads
    seen.clear()
    with parallel_config(backend="sequential"):
        FastCalibratedClassifierCV(Recording(), method="temperature", cv=3, ensemble=False, n_jobs=2).fit(X, y)
    assert seen == ["MainThread"] * 4  # three folds and the final fit, all in the caller's thread


def test_calibration_split_auto_holds_out_on_large_sets_only(monkeypatch):
    from sklearn.frozen import FrozenEstimator

    from cnnsvm.classifiers import svm

    monkeypatch.setattr(svm, "HOLDOUT_FROM", 500)
    X, y = _blobs(4, n=1000)
    large = make_svm("exact", calibration_split="auto").fit(X, y)
    assert isinstance(large, KernelSVC) and large.solver_ == "exact"
    calibrated = large.estimator_.calibrated_classifiers_
    assert len(calibrated) == 1 and isinstance(calibrated[0].estimator, FrozenEstimator)
    inner = calibrated[0].estimator.estimator
    assert isinstance(inner, FastSVC) and inner.shape_fit_[0] == 900  # 90 % fitted, 10 % held out
    assert np.allclose(large.predict_proba(X).sum(1), 1.0)
    # the fast probabilities equal scikit-learn's own for the held-out calibration too
    np.testing.assert_allclose(
        large.predict_proba(X), CalibratedClassifierCV.predict_proba(large.estimator_, X), atol=1e-9
    )
    small = make_svm("exact", calibration_split="auto").fit(X[:400], y[:400])
    folds = small.estimator_
    assert isinstance(folds, CalibratedClassifierCV) and folds.cv == 3
    assert folds.calibrated_classifiers_[0].estimator.shape_fit_[0] == 400  # one SVC on all, 3-fold calibration
    # folds everywhere by default
    assert isinstance(make_svm("exact"), CalibratedClassifierCV)
    with pytest.raises(ConfigError, match="calibration_split must be one of"):
        make_svm("exact", calibration_split="holdout")
    assert type(make_svm("exact", calibration_split="auto", probability=False)) is FastSVC


def test_first_prediction_of_the_approximate_svm_in_a_fresh_process_returns():
    # The approximate SVM predicts under one_blas_thread; the fast path's first call in a process
    # checks scikit-learn on a small SVC under the same limit. With a non-reentrant lock that first
    # prediction waited on itself forever (found when another test's order left the check for it).
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import numpy as np
        from sklearn.datasets import make_classification
        from cnnsvm.classifiers.svm import KernelSVC
        X, y = make_classification(n_samples=400, n_features=8, n_informative=5, n_classes=3, random_state=0)
        model = KernelSVC(solver="approx", n_components=50).fit(X, y)
        print(model.predict_proba(X[:5]).sum(1).round(6).tolist())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("[1.0, 1.0, 1.0, 1.0, 1.0]")


@pytest.mark.parametrize("gamma", ["scale", "auto", 0.05])
@pytest.mark.parametrize("n_classes", [2, 5])
def test_gram_svc_is_the_rbf_svc(gamma, n_classes):
    # Fitted on its kernel matrix, the same SVM as SVC(kernel="rbf"): support, coefficients, answers.
    X, y = _blobs(n_classes, n=250)
    gram, plain = GramSVC(C=3.0, gamma=gamma).fit(X, y), SVC(C=3.0, gamma=gamma).fit(X, y)
    np.testing.assert_array_equal(gram.support_vectors_, plain.support_vectors_)
    np.testing.assert_array_equal(gram.n_support_, plain.n_support_)
    np.testing.assert_allclose(gram.dual_coef_, plain.dual_coef_, rtol=1e-6, atol=1e-8)
    X_new = X[:40] + 0.3
    np.testing.assert_allclose(gram.decision_function(X_new), plain.decision_function(X_new), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(gram.predict(X_new), plain.predict(X_new))
    assert gram.gamma_ == pytest.approx(plain._gamma)


def test_gram_svc_refuses_a_bad_gamma_and_predicting_before_fit():
    from sklearn.exceptions import NotFittedError

    X, y = _blobs(3, n=60)
    with pytest.raises(ConfigError, match="gamma must be 'scale', 'auto' or a number > 0; got -1"):
        GramSVC(gamma=-1).fit(X, y)
    with pytest.raises(NotFittedError):
        GramSVC().predict(X)


def test_held_out_calibration_falls_back_to_folds_for_a_rare_class(monkeypatch):
    # A class too rare to be in both the fitted and the held-out part: the folds, not a crash.
    from cnnsvm.classifiers import svm

    monkeypatch.setattr(svm, "HOLDOUT_FROM", 500)
    X, y = _blobs(4, n=1000)
    X = np.vstack([X, X[:3] + 5.0])
    y = np.concatenate([y, [4, 4, 4]])
    model = make_svm("exact", calibration_split="auto").fit(X, y)
    assert isinstance(model.estimator_, CalibratedClassifierCV) and model.estimator_.cv == 3
    assert model.predict_proba(X).shape == (len(X), 5)


def test_calibration_split_auto_keeps_three_folds_below_its_threshold():
    with pytest.raises(ConfigError, match="leave calibration_folds at 3"):
        make_svm("exact", calibration_split="auto", calibration_folds=5)


def test_a_kernel_svc_pickled_before_calibration_split_existed_still_works():
    import pickle

    X, y = _blobs(3, n=150)
    model = KernelSVC(solver="exact").fit(X, y)
    del model.__dict__["calibration_split"], model.__dict__["n_jobs"]  # as an older release saved it
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.get_params()["calibration_split"] == "folds" and loaded.get_params()["n_jobs"] is None
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
