"""SVMs for CNN features: the exact kernel SVC, and a scalable approximation for large sets."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.kernel_approximation import Nystroem
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from cnnsvm.exceptions import ConfigError

SOLVERS = ("exact", "approx", "auto")


class KernelSVC(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM that switches to a kernel approximation on large training sets.

    ``solver="exact"`` fits :class:`sklearn.svm.SVC`; ``"approx"`` maps the
    inputs with :class:`sklearn.kernel_approximation.Nystroem` and fits a
    :class:`sklearn.svm.LinearSVC` on them (calibrated with
    :class:`sklearn.calibration.CalibratedClassifierCV` when probabilities are
    asked for); ``"auto"`` uses the approximation from ``auto_threshold``
    training samples on.

    Parameters
    ----------
    solver : {"exact", "approx", "auto"}, default="auto"
    C : float, default=10.0
    gamma : "scale" or float, default="scale"
        RBF width; ``"scale"`` is ``1 / (n_features * X.var())`` for both solvers.
    n_components : int, default=2000
        Nystroem landmarks of the approximation.
    auto_threshold : int, default=20000
    probability : bool, default=True
    random_state : int or None, default=0

    Attributes
    ----------
    estimator_ : fitted sklearn estimator
    solver_ : str
        The solver used ("exact" or "approx").
    classes_ : ndarray
    """

    def __init__(self, solver="auto", C=10.0, gamma="scale", n_components=2000,
                 auto_threshold=20000, probability=True, random_state=0):
        self.solver = solver
        self.C = C
        self.gamma = gamma
        self.n_components = n_components
        self.auto_threshold = auto_threshold
        self.probability = probability
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the chosen solver; returns ``self``."""
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {SOLVERS}; got {self.solver!r}")
        X, y = validate_data(self, X, y, dtype=np.float64)
        approx = self.solver == "approx" or (self.solver == "auto" and len(X) >= self.auto_threshold)
        if not approx:
            self.solver_ = "exact"
            self.estimator_ = make_svm("exact", C=self.C, gamma=self.gamma, probability=self.probability,
                                       random_state=self.random_state).fit(X, y)
        else:
            self.solver_ = "approx"
            gamma = self.gamma
            if gamma == "scale":
                var = X.var()
                gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
            linear = make_pipeline(
                Nystroem(gamma=gamma, n_components=min(self.n_components, len(X)),
                         random_state=self.random_state),
                LinearSVC(C=self.C / 10.0, random_state=self.random_state),
            )
            if self.probability:
                linear = CalibratedClassifierCV(linear, method="sigmoid", cv=3, ensemble=False)
            self.estimator_ = linear.fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        """Predicted class of each sample."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(validate_data(self, X, reset=False, dtype=np.float64))

    @available_if(lambda self: not self.probability)
    def decision_function(self, X):
        """Decision values of the fitted solver (requires ``probability=False``)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(validate_data(self, X, reset=False, dtype=np.float64))

    @available_if(lambda self: self.probability)
    def predict_proba(self, X):
        """Class probabilities (requires ``probability=True``)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(validate_data(self, X, reset=False, dtype=np.float64))


def make_svm(solver="exact", *, C=10.0, gamma="scale", kernel="rbf", probability=True, random_state=0,
             calibration_folds=3):
    """The SVM step of a hybrid or a baseline.

    ``"exact"`` gives :class:`~sklearn.svm.SVC`, wrapped (when ``probability``)
    in :class:`~sklearn.calibration.CalibratedClassifierCV` with ``ensemble=False``
    (scikit-learn's replacement for ``SVC(probability=True)``): one SVC fitted on
    all the data, sigmoid calibration fitted on ``calibration_folds`` folds.
    Other solvers give :class:`KernelSVC`.
    """
    if solver == "exact":
        svc = SVC(C=C, gamma=gamma, kernel=kernel, random_state=random_state)
        if not probability:
            return svc
        return CalibratedClassifierCV(svc, method="sigmoid", cv=calibration_folds, ensemble=False)
    if solver not in SOLVERS:
        raise ConfigError(f"svm must be one of {SOLVERS}; got {solver!r}")
    if kernel != "rbf":
        raise ConfigError("the approximate SVM supports the rbf kernel only; use svm='exact'")
    return KernelSVC(solver=solver, C=C, gamma=gamma, probability=probability, random_state=random_state)
