"""SVMs for CNN features: the exact kernel SVC, and a scalable approximation for large sets."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from joblib import parallel_config
from sklearn import calibration as sk_calibration
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from cnnsvm.classifiers._sklearn_fastpath import calibrated_proba, rbf_svc_decision
from cnnsvm.classifiers.blas_threads import one_blas_thread
from cnnsvm.exceptions import ConfigError

SOLVERS = ("exact", "approx", "auto")

#: Probability calibration methods of :class:`~sklearn.calibration.CalibratedClassifierCV` offered here.
#: "temperature" (the default) divides all decision values by one fitted temperature before a
#: softmax, which keeps the SVM's own ranking of its answers; "sigmoid" (Platt) fits one sigmoid
#: per class, which saturates to 1.0 on CNN features (see docs/experiments.md).
CALIBRATIONS = ("temperature", "sigmoid")

#: Largest held-out set on which KernelSVC's approximate solver fits its sigmoids.
CALIBRATION_HOLDOUT_MAX = 10000

#: How a calibration gets its out-of-sample decision values: "folds" (k-fold, then one SVM on
#: all the data) or "auto" (a held-out 10 % from :data:`HOLDOUT_FROM` samples on, folds below).
CALIBRATION_SPLITS = ("folds", "auto")

#: Training-set size from which ``calibration_split="auto"`` holds out instead of folding. Chosen on
#: validation data (benchmarks/results/calibration.md, MNIST features of an extractor that never saw
#: MNIST): tied with the folds at 5,000 and 10,000 samples (2.5 and 2.7x faster), behind them on every
#: measure at 2,000, where the folds take under a second.
HOLDOUT_FROM = 5000

#: Fewest samples of a class for a held-out calibration (at least one of each class held out).
HOLDOUT_MIN_PER_CLASS = 10


class FastSVC(SVC):
    """scikit-learn's :class:`~sklearn.svm.SVC` with a faster ``decision_function``.

    Same parameters, fitting and decision values (up to floating-point rounding). A
    multi-class RBF SVC's decision values come from
    :func:`cnnsvm.classifiers._sklearn_fastpath.rbf_svc_decision` (matrix products instead
    of libsvm's kernel values one at a time: about 10x faster on CNN features). They are
    what a calibration computes on each held-out fold: for 10,000 CNN features of 10
    classes, 3-fold calibration spent 5.7 of its 12.5 s in libsvm's decision values.
    Any other set-up uses :class:`~sklearn.svm.SVC`'s own.
    """

    #: Its decision values are SVC's (the fast path may compute them; a subclass must declare it again).
    _fast_decision_of_svc = True

    def decision_function(self, X):
        """Decision values (one-vs-rest shape for more than two classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        decision = rbf_svc_decision(self, X)
        return super().decision_function(X) if decision is None else decision


class GramSVC(ClassifierMixin, BaseEstimator):
    """An RBF SVC fitted on its kernel (Gram) matrix: the same SVM, faster to fit on small sets.

    libsvm computes each kernel value from two feature vectors (256 multiply-adds on CNN
    features) whenever its solver asks for it. Here the whole matrix is one BLAS product and
    :class:`~sklearn.svm.SVC` with ``kernel="precomputed"`` reads it: the same dual
    coefficients as ``SVC(kernel="rbf", gamma=gamma)``, fitted faster where the matrix is
    small. The kernel against new points needs every training point, so it keeps them
    (``X_fit_``) and its memory grows with the square of the training set: it is meant for a
    few thousand points. (Models taught new classes by earlier releases of
    :mod:`cnnsvm.serve.teach` hold one; teaching now adds pairs with
    :class:`~cnnsvm.classifiers.pairwise.PairwiseSVC`.)

    Parameters
    ----------
    C : float, default=10.0
        Penalty, as :class:`~sklearn.svm.SVC`'s.
    gamma : "scale", "auto" or float, default="scale"
        RBF width, as :class:`~sklearn.svm.SVC`'s.

    Attributes
    ----------
    svc_ : SVC
        The fitted ``SVC(kernel="precomputed")``.
    X_fit_ : ndarray of shape (n_samples, n_features)
        The training points (the columns of the kernel at prediction).
    support_vectors_ : ndarray of shape (n_SV, n_features)
    n_support_ : ndarray of shape (n_classes,)
    dual_coef_ : ndarray of shape (n_classes - 1, n_SV)
    gamma_ : float
        The RBF width used (``"scale"`` and ``"auto"`` resolved as :class:`~sklearn.svm.SVC` does).
    classes_ : ndarray of shape (n_classes,)
    """

    def __init__(self, C=10.0, gamma="scale"):
        self.C = C
        self.gamma = gamma

    def fit(self, X, y):
        """Fit the SVC on the RBF kernel matrix of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : GramSVC
        """
        _check_gamma(self.gamma)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.gamma_ = _rbf_gamma(self.gamma, X)
        self.svc_ = SVC(C=self.C, kernel="precomputed").fit(self._kernel(X, X), y)
        self.X_fit_ = X
        self.classes_ = self.svc_.classes_
        self.support_vectors_ = X[self.svc_.support_]
        self.n_support_ = self.svc_.n_support_
        self.dual_coef_ = self.svc_.dual_coef_
        return self

    def _kernel(self, X, Y):
        with one_blas_thread():
            return rbf_kernel(X, Y, gamma=self.gamma_)

    def decision_function(self, X):
        """Decision values, as :meth:`sklearn.svm.SVC.decision_function`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self, "svc_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.svc_.decision_function(self._kernel(X, self.X_fit_))

    def predict(self, X):
        """Predicted class of each sample, as :meth:`sklearn.svm.SVC.predict`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "svc_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.svc_.predict(self._kernel(X, self.X_fit_))


class FastCalibratedClassifierCV(sk_calibration.CalibratedClassifierCV):
    """scikit-learn's :class:`~sklearn.calibration.CalibratedClassifierCV`, faster to fit and to predict.

    Same parameters, fitting and probabilities (up to floating-point rounding). For
    temperature or sigmoid calibration of a ``decision_function`` (what :func:`make_svm`
    builds) the probabilities come from
    :func:`cnnsvm.classifiers._sklearn_fastpath.calibrated_proba`: vectorised over the
    classes, and for a multi-class RBF :class:`~sklearn.svm.SVC` with its decision values
    as matrix products (about 10x faster on a batch of 1024 CNN features). Any other
    set-up, or a scikit-learn release that no longer passes the fast path's self-check,
    uses scikit-learn's own ``predict_proba``.

    With ``n_jobs``, ``fit`` runs the calibration's folds in threads unless a
    :func:`joblib.parallel_config` chose a backend: libsvm releases the GIL while it
    fits, so the folds share the cores without copying the data to other processes.
    The hint replaces a caller's ``prefer="processes"`` for these folds (and for any
    ``Parallel`` inside the estimator's own ``fit``); name a ``backend`` to keep processes.
    """

    def fit(self, X, y, sample_weight=None, **fit_params):
        """Fit the calibration's folds, their calibrator and the final estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        **fit_params
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : FastCalibratedClassifierCV
        """
        with parallel_config(prefer="threads"):
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)

    def predict_proba(self, X):
        """Calibrated probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        proba = calibrated_proba(self, X)
        return super().predict_proba(X) if proba is None else proba


def __getattr__(name):
    # Models pickled before the class was renamed refer to cnnsvm.classifiers.svm.CalibratedClassifierCV.
    if name == "CalibratedClassifierCV":
        return FastCalibratedClassifierCV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    ``benchmarks/results/perf.md``). With ``calibration_split="auto"`` the exact
    SVC is calibrated the same way from :data:`HOLDOUT_FROM` samples on.

    Parameters
    ----------
    solver : {"exact", "approx", "auto"}, default="auto"
        ``"auto"``: ``"approx"`` from ``auto_threshold`` training samples on, else ``"exact"``.
    C : float, default=10.0
        Penalty of the exact :class:`~sklearn.svm.SVC`.
    gamma : "scale", "auto" or float, default="scale"
        RBF width; ``"scale"`` is ``1 / (n_features * X.var())`` and ``"auto"``
        ``1 / n_features``, as in :class:`~sklearn.svm.SVC`, for both solvers.
    n_components : int, default=150
        Nystroem landmarks of the approximation. More cost time roughly in
        proportion: on the 256-d CNN features of MNIST (54,000 training samples)
        the linear fit took 2.3 s with 150 and 3.9 s with 300, at 99.58 and
        99.60 % test accuracy.
    auto_threshold : int, default=20000
        Training-set size from which ``solver="auto"`` uses the approximation.
    probability : bool, default=True
        Fit a probability calibration (``predict_proba``); without it the
        estimator has ``decision_function`` instead.
    calibration : {"temperature", "sigmoid"}, default="temperature"
        Probability calibration (see :data:`CALIBRATIONS`).
    random_state : int or None, default=0
        Seed of the Nystroem landmarks, the LinearSVC and the calibration split.
    linear_C : float or None, default=None
        Penalty of the :class:`~sklearn.svm.LinearSVC` of the approximation.
        ``None``: ``C / 10``, the rule the approximation was benchmarked with
        (``benchmarks/results/perf.md``; not tuned separately). The two solvers
        minimise different losses (hinge with an exact kernel vs squared hinge on
        ``n_components`` Nystroem features), so with ``solver="auto"`` the effective
        regularisation changes where the training set reaches ``auto_threshold``;
        set ``linear_C`` (or ``solver``) explicitly to control it.
    calibration_split : {"folds", "auto"}, default="folds"
        Exact solver: ``"folds"`` calibrates on 3 folds and fits the SVC on all
        the data (four fits); ``"auto"`` holds out a stratified 10 % (at most
        ``CALIBRATION_HOLDOUT_MAX``) from :data:`HOLDOUT_FROM` training samples on,
        fits the SVC once on the rest and calibrates it on the held-out part.
        The approximate solver always holds out where it can.
    n_jobs : int or None, default=None
        Threads for the exact SVC's calibration folds (see :func:`make_svm`).

    Attributes
    ----------
    estimator_ : fitted sklearn estimator
    solver_ : str
        The solver used ("exact" or "approx").
    calibration_ : str or None
        The calibration used (``None`` without probabilities).
    linear_C_ : float
        Penalty of the LinearSVC (approximate solver only).
    classes_ : ndarray
    """

    def __init__(
        self,
        solver="auto",
        C=10.0,
        gamma="scale",
        n_components=150,
        auto_threshold=20000,
        probability=True,
        calibration="temperature",
        random_state=0,
        linear_C=None,
        calibration_split="folds",
        n_jobs=None,
    ):
        self.solver = solver
        self.calibration_split = calibration_split
        self.n_jobs = n_jobs
        self.linear_C = linear_C
        self.calibration = calibration
        self.C = C
        self.gamma = gamma
        self.n_components = n_components
        self.auto_threshold = auto_threshold
        self.probability = probability
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the chosen solver.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : KernelSVC
        """
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {SOLVERS}; got {self.solver!r}")
        _check_calibration(self.calibration)
        _check_calibration_split(self.calibration_split)
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        approx = self.solver == "approx" or (self.solver == "auto" and len(X) >= self.auto_threshold)
        if not approx:
            self.solver_ = "exact"
            exact = dict(C=self.C, gamma=self.gamma, calibration=self.calibration, random_state=self.random_state)
            held_out = None
            if self.probability and self.calibration_split == "auto" and len(X) >= HOLDOUT_FROM:
                held_out = self._holdout(X, y)
            if held_out is None:
                self.estimator_ = make_svm("exact", probability=self.probability, n_jobs=self.n_jobs, **exact)
                self.estimator_.fit(X, y)
            else:
                X_fit, X_cal, y_fit, y_cal = held_out
                svc = make_svm("exact", probability=False, **exact).fit(X_fit, y_fit)
                self.estimator_ = self._calibrated(
                    lambda method: FastCalibratedClassifierCV(FrozenEstimator(svc), method=method).fit(X_cal, y_cal)
                )
        else:
            self.solver_ = "approx"
            self.linear_C_ = self.C / 10.0 if self.linear_C is None else float(self.linear_C)
            # Map the data once; the linear fits below all read the same features.
            nystroem = Nystroem(
                gamma=_rbf_gamma(self.gamma, X),
                n_components=min(self.n_components, len(X)),
                random_state=self.random_state,
            )
            with one_blas_thread():
                Z = nystroem.fit_transform(X, y)
            self.estimator_ = make_pipeline(nystroem, self._fit_linear(Z, y))
        self.classes_ = self.estimator_.classes_
        final = self.estimator_.steps[-1][1] if hasattr(self.estimator_, "steps") else self.estimator_
        self.calibration_ = getattr(final, "method", None)
        return self

    def __setstate__(self, state):
        # Models saved before these parameters existed: their behaviour then.
        state.setdefault("calibration_split", "folds")
        state.setdefault("n_jobs", None)
        super().__setstate__(state)

    def _check_params(self):
        # The numeric parameters, checked before any fitting (scikit-learn's own parameter
        # validation is private API): what is wrong and what to pass instead.
        def positive(name, value, kind=numbers.Real):
            if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
                what = "an integer" if kind is numbers.Integral else "a number"
                raise ConfigError(f"{name} must be {what} > 0; got {value!r}")

        positive("C", self.C)
        if self.linear_C is not None:
            positive("linear_C", self.linear_C)
        positive("n_components", self.n_components, numbers.Integral)
        positive("auto_threshold", self.auto_threshold, numbers.Integral)
        _check_gamma(self.gamma)

    def _fit_linear(self, Z, y):
        # The dual solver: on 54000 x 150-300 Nystroem features it converges 2-3x faster than the
        # primal one that LinearSVC's dual="auto" picks when samples outnumber features.
        linear = LinearSVC(C=self.linear_C_, dual=True, random_state=self.random_state)
        if not self.probability:
            return linear.fit(Z, y)
        held_out = self._holdout(Z, y)
        if held_out is None:
            return self._calibrated(
                lambda method: FastCalibratedClassifierCV(linear, method=method, cv=3, ensemble=False).fit(Z, y)
            )
        Z_fit, Z_cal, y_fit, y_cal = held_out
        linear.fit(Z_fit, y_fit)
        return self._calibrated(
            lambda method: FastCalibratedClassifierCV(FrozenEstimator(linear), method=method).fit(Z_cal, y_cal)
        )

    def _holdout(self, X, y):
        # A stratified 10 % (at most CALIBRATION_HOLDOUT_MAX) for the calibration, or None (then the
        # folds) where that would hold out fewer than 20 samples per class on average, or where a
        # class is too rare to appear in both parts.
        classes, counts = np.unique(y, return_counts=True)
        n_cal = min(CALIBRATION_HOLDOUT_MAX, int(round(0.1 * len(X))))
        if n_cal < 20 * len(classes) or counts.min() < HOLDOUT_MIN_PER_CLASS:
            return None
        parts = train_test_split(X, y, test_size=n_cal, stratify=y, random_state=self.random_state)
        if len(np.unique(parts[2])) < len(classes) or len(np.unique(parts[3])) < len(classes):
            return None
        return parts

    def _calibrated(self, fit):
        return calibrated_with_fallback(fit, self.calibration, stacklevel=4)

    def predict(self, X):
        """Predicted class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._call("predict", X)

    @available_if(lambda self: not self.probability)
    def decision_function(self, X):
        """Decision values of the fitted solver (requires ``probability=False``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._call("decision_function", X)

    @available_if(lambda self: self.probability)
    def predict_proba(self, X):
        """Class probabilities (requires ``probability=True``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_proba", X)

    def _call(self, method, X):
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if self.solver_ != "approx":
            return getattr(self.estimator_, method)(X)
        with one_blas_thread():  # Nystroem's kernel products
            return getattr(self.estimator_, method)(X)


def calibrated_with_fallback(fit, calibration, stacklevel=3):
    """``fit(calibration)``, or ``fit("sigmoid")`` where temperature scaling fails.

    Temperature scaling's 1-D optimisation can fail on degenerate decision values (a few
    samples, a constant fold): then Platt's sigmoids, with a :class:`RuntimeWarning`; the
    fitted calibration's ``method`` says which.

    Parameters
    ----------
    fit : callable
        ``fit(method)`` returns a fitted calibrated classifier.
    calibration : {"temperature", "sigmoid"}
    stacklevel : int, default=3
        Of the warning.

    Returns
    -------
    estimator
    """
    try:
        return fit(calibration)
    except RuntimeError as exc:
        if calibration != "temperature":
            raise
        warnings.warn(
            f"temperature scaling failed ({exc}); the SVM's probabilities are calibrated with Platt's sigmoids instead",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return fit("sigmoid")


def _check_gamma(gamma):
    valid = isinstance(gamma, numbers.Real) and not isinstance(gamma, bool) and gamma > 0
    if not (valid or (isinstance(gamma, str) and gamma in ("scale", "auto"))):
        raise ConfigError(f"gamma must be 'scale', 'auto' or a number > 0; got {gamma!r}")


def _rbf_gamma(gamma, X):
    """The RBF width ``gamma`` stands for on ``X``: "scale" and "auto" resolved as SVC resolves them."""
    if gamma == "scale":
        var = X.var()
        return 1.0 / (X.shape[1] * var) if var > 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def _check_calibration_split(split):
    if split not in CALIBRATION_SPLITS:
        raise ConfigError(f"calibration_split must be one of {CALIBRATION_SPLITS}; got {split!r}")
    return split


def _check_calibration(calibration):
    if calibration not in CALIBRATIONS:
        raise ConfigError(f"calibration must be one of {CALIBRATIONS}; got {calibration!r}")
    return calibration


def make_svm(
    solver="exact",
    *,
    C=10.0,
    gamma="scale",
    kernel="rbf",
    probability=True,
    random_state=0,
    calibration="temperature",
    calibration_folds=3,
    linear_C=None,
    calibration_split="folds",
    n_jobs=None,
):
    """The SVM step of a hybrid or a baseline.

    ``"exact"`` gives :class:`~sklearn.svm.SVC`, wrapped (when ``probability``)
    in :class:`~sklearn.calibration.CalibratedClassifierCV` with ``ensemble=False``
    (scikit-learn's replacement for ``SVC(probability=True)``): one SVC fitted on
    all the data, its calibration (``"temperature"`` by default, or Platt's
    ``"sigmoid"``) fitted on ``calibration_folds`` folds.
    Other solvers give :class:`KernelSVC`.

    Parameters
    ----------
    solver : {"exact", "approx", "auto"}, default="exact"
    C : float, default=10.0
    gamma : "scale" or float, default="scale"
    kernel : str, default="rbf"
        Any :class:`~sklearn.svm.SVC` kernel for ``"exact"``; ``"rbf"`` only otherwise.
    probability : bool, default=True
    random_state : int or None, default=0
    calibration : {"temperature", "sigmoid"}, default="temperature"
    calibration_folds : int, default=3
        Folds of the exact SVC's calibration.
    linear_C : float or None, default=None
        See :class:`KernelSVC` (approximate solvers only).
    calibration_split : {"folds", "auto"}, default="folds"
        ``"auto"``: from :data:`HOLDOUT_FROM` training samples on, one SVC fitted on
        90 % and calibrated on the held-out 10 % instead of the folds (see
        :class:`KernelSVC`, which it then returns).
    n_jobs : int or None, default=None
        Calibration folds of the exact SVC fitted at the same time, in threads (see
        :class:`FastCalibratedClassifierCV`); ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context, -1 means all cores. The results do not
        depend on it.

    Returns
    -------
    estimator
        An unfitted :class:`FastCalibratedClassifierCV`, :class:`FastSVC` or :class:`KernelSVC`.
    """
    _check_calibration(calibration)
    _check_calibration_split(calibration_split)
    if calibration_split == "auto" and calibration_folds != 3:
        raise ConfigError(
            "calibration_split='auto' calibrates on 3 folds below its threshold; leave calibration_folds at 3"
        )
    if solver == "exact" and (calibration_split == "folds" or not probability):
        svc = FastSVC(C=C, gamma=gamma, kernel=kernel, random_state=random_state)
        if not probability:
            return svc
        return FastCalibratedClassifierCV(svc, method=calibration, cv=calibration_folds, ensemble=False, n_jobs=n_jobs)
    if solver not in SOLVERS:
        raise ConfigError(f"svm must be one of {SOLVERS}; got {solver!r}")
    if kernel != "rbf":
        raise ConfigError(
            "the approximate SVM and the held-out calibration support the rbf kernel only; "
            "use svm='exact' with calibration_split='folds' for another kernel"
        )
    return KernelSVC(
        solver=solver,
        C=C,
        gamma=gamma,
        probability=probability,
        calibration=calibration,
        random_state=random_state,
        linear_C=linear_C,
        calibration_split=calibration_split,
        n_jobs=n_jobs,
    )
