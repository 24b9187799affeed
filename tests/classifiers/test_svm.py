import numpy as np
import pytest
from sklearn.datasets import make_classification

from cnnsvm.classifiers import KernelSVC, make_svm
from cnnsvm.exceptions import ConfigError


def test_auto_solver_switches_on_size():
    X, y = make_classification(n_samples=400, n_features=10, n_informative=6, n_classes=3, random_state=0)
    small = KernelSVC(solver="auto", auto_threshold=1000).fit(X, y)
    large = KernelSVC(solver="auto", auto_threshold=100, n_components=200).fit(X, y)
    assert small.solver_ == "exact" and large.solver_ == "approx"
    assert abs(small.score(X, y) - large.score(X, y)) < 0.1
    assert np.allclose(large.predict_proba(X).sum(1), 1.0)


def test_make_svm_options():
    assert make_svm("exact", probability=False).__class__.__name__ == "SVC"
    assert make_svm("exact").__class__.__name__ == "CalibratedClassifierCV"
    with pytest.raises(ConfigError):
        make_svm("fast")
    with pytest.raises(ConfigError, match="rbf"):
        make_svm("approx", kernel="poly")


def test_fast_calibrated_svc_prediction_equals_scikit_learns():
    from sklearn import calibration

    from cnnsvm.classifiers.svm import _rbf_svc_decision

    X, y = make_classification(n_samples=300, n_features=12, n_informative=8, n_classes=4, random_state=1)
    model = make_svm("exact").fit(X[:200], y[:200])
    ours = model.predict_proba(X[200:])
    reference = calibration.CalibratedClassifierCV.predict_proba(model, X[200:])
    assert np.allclose(ours, reference, atol=1e-10)
    svc = model.calibrated_classifiers_[0].estimator
    assert np.allclose(_rbf_svc_decision(svc, X[200:]), svc.decision_function(X[200:]), atol=1e-8)
    assert _rbf_svc_decision(make_svm("exact", kernel="linear", probability=False).fit(X, y), X) is None
