"""SVMs for CNN features: the exact kernel SVC, and a scalable approximation for large sets."""

from __future__ import annotations

import contextlib
import threading
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn import calibration as _calibration
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from cnnsvm.exceptions import ConfigError

SOLVERS = ("exact", "approx", "auto")

#: Probability calibration methods of :class:`~sklearn.calibration.CalibratedClassifierCV` offered here.
#: "temperature" (the default) divides all decision values by one fitted temperature before a
#: softmax, which keeps the SVM's own ranking of its answers; "sigmoid" (Platt) fits one sigmoid
#: per class, which saturates to 1.0 on CNN features (see docs/experiments.md).
CALIBRATIONS = ("temperature", "sigmoid")

#: Largest held-out set on which KernelSVC's approximate solver fits its sigmoids.
CALIBRATION_HOLDOUT_MAX = 10000

_blas_lock = threading.Lock()
_blas_pools = []


@contextlib.contextmanager
def _one_blas_thread():
    """Run the kernel products of the SVMs (prediction, Nystroem mapping) on one BLAS thread.

    OpenBLAS splits products above ~0.3 M multiply-adds over all cores. When another
    process keeps a core busy, the split threads wait on each other: a batch of 32
    feature vectors against 800 support vectors took 40 ms instead of 0.4 ms on a
    shared 2-core machine, and a batch of 1024 20-110 ms instead of 8 ms. Next to the
    CNN's forward pass a second thread would save little even on idle cores. The
    limit is process-wide, hence the lock (concurrent callers queue here).
    """
    with _blas_lock:
        if not _blas_pools:
            from threadpoolctl import ThreadpoolController

            _blas_pools.append(ThreadpoolController().select(user_api="blas"))
        with _blas_pools[0].limit(limits=1):
            yield


class CalibratedClassifierCV(_calibration.CalibratedClassifierCV):
    """scikit-learn's :class:`~sklearn.calibration.CalibratedClassifierCV` with a leaner ``predict_proba``.

    Same parameters and fitting. For sigmoid calibration of a ``decision_function``
    (what :func:`make_svm` builds) prediction is faster, with the same
    probabilities up to floating-point rounding:

    - the fitted sigmoids are applied to all classes in one vectorised step, not
      in scikit-learn's per-class loop with its input checks and label
      re-encoding on every call (about 1 ms per call, as long as the SVC's own
      decision on one image);
    - a multi-class RBF :class:`~sklearn.svm.SVC` gets its decision values from
      :func:`_rbf_svc_decision` (matrix products) instead of libsvm's one
      kernel value at a time: about 10x faster on a batch of 1024 CNN features.

    Any other set-up falls back to scikit-learn's code.
    """

    def predict_proba(self, X):
        """Calibrated probabilities, shape (n_samples, n_classes)."""
        calibrated = getattr(self, "calibrated_classifiers_", None)
        if calibrated and all(_temperature_of_decision(c) for c in calibrated):
            return self._temperature_proba(calibrated, X)
        if not calibrated or not all(_sigmoid_of_decision(c) for c in calibrated):
            return super().predict_proba(X)
        mean_proba = None
        for c in calibrated:  # the arithmetic of sklearn's _CalibratedClassifier.predict_proba
            predictions = _decision(c.estimator, X)
            if predictions.ndim == 1:
                predictions = predictions.reshape(-1, 1)
            n_classes = c.classes.shape[0]
            a = np.array([cal.a_ for cal in c.calibrators])
            b = np.array([cal.b_ for cal in c.calibrators])
            proba = np.zeros((len(predictions), n_classes))
            if n_classes == 2:
                proba[:, 1] = expit(-(a * predictions + b))[:, 0]
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                proba[:, np.searchsorted(c.classes, c.estimator.classes_)] = expit(-(a * predictions + b))
                denominator = np.sum(proba, axis=1)[:, np.newaxis]
                uniform_proba = np.full_like(proba, 1 / n_classes)
                proba = np.divide(proba, denominator, out=uniform_proba, where=denominator != 0)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            if mean_proba is None:
                mean_proba = np.zeros((len(proba), self.classes_.shape[0]))
            mean_proba += proba
        mean_proba /= len(calibrated)
        return mean_proba


    def _temperature_proba(self, calibrated, X):
        # sklearn's _CalibratedClassifier.predict_proba for method="temperature": the one
        # calibrator maps the decision matrix to probabilities; the decisions come from BLAS.
        mean_proba = 0.0
        for c in calibrated:
            proba = np.asarray(c.calibrators[0].predict(_decision(c.estimator, X)), dtype=np.float64)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            mean_proba = mean_proba + proba
        return mean_proba / len(calibrated)


def _decision(estimator, X):
    """Decision values of a calibrated classifier's estimator: BLAS for an RBF SVC, else its own."""
    predictions = _rbf_svc_decision(estimator, X)
    return estimator.decision_function(X) if predictions is None else predictions


def _temperature_of_decision(calibrated):
    return (
        getattr(calibrated, "method", None) == "temperature"
        and hasattr(calibrated.estimator, "decision_function")
        and len(getattr(calibrated, "calibrators", ())) == 1
        and len(calibrated.classes) > 2
        and np.array_equal(calibrated.estimator.classes_, calibrated.classes)
    )


def _rbf_svc_decision(svc, X):
    """``svc.decision_function(X)`` of a fitted multi-class RBF SVC, computed with matrix products.

    libsvm evaluates the kernel one sample and one support vector at a time; the same
    sums as BLAS products over a whole batch take a fraction of the time (features of
    1024 images against 1161 support vectors: 130 ms in libsvm, 12 ms here).
    Same one-vs-one sums (``dual_coef_`` per class pair, plus ``intercept_``) and the
    same one-vs-rest vote as :class:`~sklearn.svm.SVC`; values equal up to rounding.
    Returns None where this does not apply (binary, sparse, other kernels or shapes).
    """
    n_support = getattr(svc, "_n_support", None)
    if (
        type(svc) is not SVC
        or svc.kernel != "rbf"
        or svc.decision_function_shape != "ovr"
        or n_support is None
        or len(svc.classes_) < 3
        or sp.issparse(svc.support_vectors_)
        or sp.issparse(X)
        or not hasattr(svc, "_gamma")
    ):
        return None
    X = validate_data(svc, X, reset=False, dtype=np.float64, order="C")
    sv, coef, gamma = svc.support_vectors_, svc._dual_coef_, svc._gamma
    n_class = len(svc.classes_)
    start = np.concatenate([[0], np.cumsum(n_support)])
    pairs = [(i, j) for i in range(n_class) for j in range(i + 1, n_class)]
    # weights[k, p]: coefficient of support vector k in the decision of class pair p (libsvm's layout).
    weights = np.zeros((len(sv), len(pairs)))
    for p, (i, j) in enumerate(pairs):
        weights[start[i] : start[i + 1], p] = coef[j - 1, start[i] : start[i + 1]]
        weights[start[j] : start[j + 1], p] = coef[i, start[j] : start[j + 1]]
    sv_sq = np.einsum("ij,ij->i", sv, sv)
    dec = np.empty((len(X), len(pairs)))
    step = max(1, 2**22 // max(len(sv), 1))  # bounds the kernel block to 32 MiB
    with _one_blas_thread():
        for a in range(0, len(X), step):
            x = X[a : a + step]
            k = x @ sv.T
            k *= -2.0
            k += np.einsum("ij,ij->i", x, x)[:, None]
            k += sv_sq
            np.maximum(k, 0.0, out=k)
            k *= -gamma
            np.exp(k, out=k)
            dec[a : a + step] = k @ weights
    dec += svc._intercept_
    # One-vs-rest as sklearn's _ovr_decision_function: votes, ties broken by the summed
    # confidences squashed into (-1/3, 1/3).
    first = np.zeros((len(pairs), n_class))
    second = np.zeros((len(pairs), n_class))
    first[np.arange(len(pairs)), [i for i, _ in pairs]] = 1.0
    second[np.arange(len(pairs)), [j for _, j in pairs]] = 1.0
    wins_first = ~(dec < 0)
    votes = wins_first @ first + (~wins_first) @ second
    confidence = dec @ first - dec @ second
    return votes + confidence / (3 * (np.abs(confidence) + 1))


def _sigmoid_of_decision(calibrated):
    sigmoid = getattr(_calibration, "_SigmoidCalibration", None)
    return (
        sigmoid is not None
        and getattr(calibrated, "method", None) == "sigmoid"
        and hasattr(calibrated.estimator, "decision_function")
        and all(type(cal) is sigmoid and hasattr(cal, "a_") for cal in calibrated.calibrators)
        and len(calibrated.calibrators)
        == (1 if len(calibrated.classes) == 2 else len(calibrated.estimator.classes_))
        and np.isin(calibrated.estimator.classes_, calibrated.classes).all()
    )


class KernelSVC(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM that switches to a kernel approximation on large training sets.

    ``solver="exact"`` fits :class:`sklearn.svm.SVC`; ``"approx"`` maps the
    inputs with :class:`sklearn.kernel_approximation.Nystroem` and fits a
    :class:`sklearn.svm.LinearSVC` on them (calibrated with
    :class:`sklearn.calibration.CalibratedClassifierCV` when probabilities are
    asked for); ``"auto"`` uses the approximation from ``auto_threshold``
    training samples on.

    The approximation maps the training set once. With probabilities and enough
    data (at least 20 samples per class in the held-out part) the sigmoids are
    fitted on a stratified 10 % of the training set (at most
    ``CALIBRATION_HOLDOUT_MAX`` samples) held out from the LinearSVC: one linear
    fit instead of the four of 3-fold calibration. Smaller sets use 3-fold
    calibration. At 60000 CNN-feature samples this fits several times faster
    than the exact SVC, within a few tenths of a point of its accuracy (see
    ``benchmarks/results/perf.md``).

    Parameters
    ----------
    solver : {"exact", "approx", "auto"}, default="auto"
    C : float, default=10.0
    gamma : "scale" or float, default="scale"
        RBF width; ``"scale"`` is ``1 / (n_features * X.var())`` for both solvers.
    n_components : int, default=150
        Nystroem landmarks of the approximation. More cost time roughly in
        proportion: on the 256-d CNN features of MNIST (54,000 training samples)
        the linear fit took 2.3 s with 150 and 3.9 s with 300, at 99.58 and
        99.60 % test accuracy.
    auto_threshold : int, default=20000
    probability : bool, default=True
    calibration : {"temperature", "sigmoid"}, default="temperature"
        Probability calibration (see :data:`CALIBRATIONS`).
    random_state : int or None, default=0

    Attributes
    ----------
    estimator_ : fitted sklearn estimator
    solver_ : str
        The solver used ("exact" or "approx").
    calibration_ : str or None
        The calibration used (``None`` without probabilities).
    classes_ : ndarray
    """

    def __init__(self, solver="auto", C=10.0, gamma="scale", n_components=150,
                 auto_threshold=20000, probability=True, calibration="temperature", random_state=0):
        self.solver = solver
        self.calibration = calibration
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
        _check_calibration(self.calibration)
        X, y = validate_data(self, X, y, dtype=np.float64)
        approx = self.solver == "approx" or (self.solver == "auto" and len(X) >= self.auto_threshold)
        if not approx:
            self.solver_ = "exact"
            self.estimator_ = make_svm("exact", C=self.C, gamma=self.gamma, probability=self.probability,
                                       calibration=self.calibration, random_state=self.random_state).fit(X, y)
        else:
            self.solver_ = "approx"
            gamma = self.gamma
            if gamma == "scale":
                var = X.var()
                gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
            # Map the data once; the linear fits below all read the same features.
            nystroem = Nystroem(gamma=gamma, n_components=min(self.n_components, len(X)),
                                random_state=self.random_state)
            with _one_blas_thread():
                Z = nystroem.fit_transform(X, y)
            self.estimator_ = make_pipeline(nystroem, self._fit_linear(Z, y))
        self.classes_ = self.estimator_.classes_
        final = self.estimator_.steps[-1][1] if hasattr(self.estimator_, "steps") else self.estimator_
        self.calibration_ = getattr(final, "method", None)
        return self

    def _fit_linear(self, Z, y):
        # The dual solver: on 54000 x 150-300 Nystroem features it converges 2-3x faster than the
        # primal one that LinearSVC's dual="auto" picks when samples outnumber features.
        linear = LinearSVC(C=self.C / 10.0, dual=True, random_state=self.random_state)
        if not self.probability:
            return linear.fit(Z, y)
        classes, counts = np.unique(y, return_counts=True)
        n_cal = min(CALIBRATION_HOLDOUT_MAX, int(round(0.1 * len(Z))))
        if n_cal < 20 * len(classes) or counts.min() < 2 or len(Z) - n_cal < len(classes):
            return self._calibrated(lambda method: CalibratedClassifierCV(
                linear, method=method, cv=3, ensemble=False).fit(Z, y))
        Z_fit, Z_cal, y_fit, y_cal = train_test_split(Z, y, test_size=n_cal, stratify=y,
                                                      random_state=self.random_state)
        linear.fit(Z_fit, y_fit)
        return self._calibrated(lambda method: CalibratedClassifierCV(
            FrozenEstimator(linear), method=method).fit(Z_cal, y_cal))

    def _calibrated(self, fit):
        # Temperature scaling's 1-D optimisation can fail on degenerate decision values (a few
        # samples, a constant fold): then Platt's sigmoids, with a warning; calibration_ says which.
        try:
            return fit(self.calibration)
        except RuntimeError as exc:
            if self.calibration != "temperature":
                raise
            warnings.warn(f"temperature scaling failed ({exc}); the SVM's probabilities are calibrated with "
                          "Platt's sigmoids instead", RuntimeWarning, stacklevel=3)
            return fit("sigmoid")

    def predict(self, X):
        """Predicted class of each sample."""
        return self._call("predict", X)

    @available_if(lambda self: not self.probability)
    def decision_function(self, X):
        """Decision values of the fitted solver (requires ``probability=False``)."""
        return self._call("decision_function", X)

    @available_if(lambda self: self.probability)
    def predict_proba(self, X):
        """Class probabilities (requires ``probability=True``)."""
        return self._call("predict_proba", X)

    def _call(self, method, X):
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if self.solver_ != "approx":
            return getattr(self.estimator_, method)(X)
        with _one_blas_thread():  # Nystroem's kernel products, as in _rbf_svc_decision
            return getattr(self.estimator_, method)(X)


def _check_calibration(calibration):
    if calibration not in CALIBRATIONS:
        raise ConfigError(f"calibration must be one of {CALIBRATIONS}; got {calibration!r}")
    return calibration


def make_svm(solver="exact", *, C=10.0, gamma="scale", kernel="rbf", probability=True, random_state=0,
             calibration="temperature", calibration_folds=3):
    """The SVM step of a hybrid or a baseline.

    ``"exact"`` gives :class:`~sklearn.svm.SVC`, wrapped (when ``probability``)
    in :class:`~sklearn.calibration.CalibratedClassifierCV` with ``ensemble=False``
    (scikit-learn's replacement for ``SVC(probability=True)``): one SVC fitted on
    all the data, its calibration (``"temperature"`` by default, or Platt's
    ``"sigmoid"``) fitted on ``calibration_folds`` folds.
    Other solvers give :class:`KernelSVC`.
    """
    _check_calibration(calibration)
    if solver == "exact":
        svc = SVC(C=C, gamma=gamma, kernel=kernel, random_state=random_state)
        if not probability:
            return svc
        return CalibratedClassifierCV(svc, method=calibration, cv=calibration_folds, ensemble=False)
    if solver not in SOLVERS:
        raise ConfigError(f"svm must be one of {SOLVERS}; got {solver!r}")
    if kernel != "rbf":
        raise ConfigError("the approximate SVM supports the rbf kernel only; use svm='exact'")
    return KernelSVC(solver=solver, C=C, gamma=gamma, probability=probability, calibration=calibration,
                     random_state=random_state)
