"""Faster prediction for calibrated SVMs: the one module that reads scikit-learn's private state.

It also reads two fitted values scikit-learn does not publish: an SVC's resolved RBF width
(:func:`fitted_gamma`) and a temperature calibration's inverse temperature
(:func:`inverse_temperature`), which teaching a served model new classes keeps.

scikit-learn computes an RBF :class:`~sklearn.svm.SVC`'s decision values in libsvm, one
kernel value at a time, and the calibrated probabilities of
:class:`~sklearn.calibration.CalibratedClassifierCV` class by class, with input checks and
label re-encoding on every call. The same arithmetic as matrix products over a batch is
about 10x faster on CNN features (features of 1024 images against 1161 support vectors:
130 ms in libsvm, 12 ms here). It needs what scikit-learn does not publish
(:data:`RELIES_ON`):

- a fitted SVC's ``_n_support``, ``_dual_coef_``, ``_intercept_`` and ``_gamma`` (libsvm's
  one-vs-one layout: the values libsvm itself predicts with);
- the items of ``CalibratedClassifierCV.calibrated_classifiers_`` (their ``estimator``,
  ``calibrators``, ``classes`` and ``method``), ``sklearn.calibration._SigmoidCalibration``
  with its ``a_`` and ``b_`` (Platt's ``expit(-(a * f + b))``), and a temperature
  calibrator's ``predict`` of the decision matrix and its ``beta_`` (``softmax(beta_ * f)``).

:func:`supported` checks once per process, on small fitted models, that the installed
scikit-learn still provides all this and that the fast arithmetic reproduces scikit-learn's
own answers. Where it does not, :func:`rbf_svc_decision` and :func:`calibrated_proba`
return ``None`` and their callers use scikit-learn's public methods (the same results,
slower), after one :class:`RuntimeWarning`. Nothing else in cnnsvm reads a private
attribute of a scikit-learn object or imports a private scikit-learn module.
"""

from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import expit, softmax
from sklearn import calibration as _calibration
from sklearn.svm import SVC
from sklearn.utils.validation import validate_data

from cnnsvm.classifiers.blas_threads import one_blas_thread
from cnnsvm.classifiers.ovo import class_pairs, ovr_from_ovo

#: The private parts of scikit-learn read here (what :func:`supported` checks).
SVC_ATTRIBUTES = ("_n_support", "_dual_coef_", "_intercept_", "_gamma")
CALIBRATED_ATTRIBUTES = ("estimator", "calibrators", "classes", "method")
SIGMOID_CALIBRATOR = "_SigmoidCalibration"
SIGMOID_ATTRIBUTES = ("a_", "b_")
TEMPERATURE_ATTRIBUTE = "beta_"
RELIES_ON = (
    *(f"sklearn.svm.SVC.{a}" for a in SVC_ATTRIBUTES),
    *(f"CalibratedClassifierCV.calibrated_classifiers_[i].{a}" for a in CALIBRATED_ATTRIBUTES),
    f"sklearn.calibration.{SIGMOID_CALIBRATOR}",
    *(f"sklearn.calibration.{SIGMOID_CALIBRATOR}.{a}" for a in SIGMOID_ATTRIBUTES),
    f"a temperature calibrator's {TEMPERATURE_ATTRIBUTE} (its inverse temperature)",
)


def supported():
    """Whether the installed scikit-learn provides what the fast path relies on.

    Checked once per process (a few milliseconds): the attributes of :data:`RELIES_ON`
    exist on small fitted models, and the fast decision values and probabilities equal
    scikit-learn's own. On failure a :class:`RuntimeWarning` says why, once.

    Returns
    -------
    bool
    """
    problem = _problem()
    return problem is None


@functools.cache
def _problem():
    """What stops the fast path on this scikit-learn (a sentence), or ``None``."""
    try:
        problem = _self_check()
    except Exception as exc:  # noqa: BLE001 - whatever changed, fall back to the public path
        problem = f"the self-check failed ({type(exc).__name__}: {exc})"
    if problem is not None:
        warnings.warn(
            f"cnnsvm's fast SVM prediction is off on scikit-learn {sklearn.__version__}: {problem}. "
            "Predicting with scikit-learn's own methods (the same results, slower).",
            RuntimeWarning,
            stacklevel=3,
        )
    return problem


def _self_check():
    if not hasattr(_calibration, SIGMOID_CALIBRATOR):
        return f"sklearn.calibration.{SIGMOID_CALIBRATOR} is gone"
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 4)) + y[:, None]
    svc = SVC(gamma="scale").fit(X, y)
    missing = [a for a in SVC_ATTRIBUTES if not hasattr(svc, a)]
    if missing:
        return f"a fitted SVC has no {', '.join(missing)}"
    if not np.allclose(_rbf_svc_decision(svc, X), svc.decision_function(X), rtol=1e-7, atol=1e-9):
        return "the SVC's decision values computed from its support vectors differ from its own"
    ovo = copy.copy(svc).set_params(decision_function_shape="ovo").decision_function(X)  # the same fit, other shape
    if not np.allclose(_rbf_svc_ovo(svc, X), ovo, rtol=1e-7, atol=1e-9):
        return "the SVC's one-vs-one decision values computed from its support vectors differ from its own"
    binary = y < 2
    for method, X_cal, y_cal in (("sigmoid", X, y), ("sigmoid", X[binary], y[binary]), ("temperature", X, y)):
        model = _calibration.CalibratedClassifierCV(SVC(), method=method, cv=2, ensemble=False).fit(X_cal, y_cal)
        calibrated = model.calibrated_classifiers_[0]
        missing = [a for a in CALIBRATED_ATTRIBUTES if not hasattr(calibrated, a)]
        if missing:
            return f"a calibrated classifier has no {', '.join(missing)}"
        if method == "sigmoid":
            missing = [a for a in SIGMOID_ATTRIBUTES if not all(hasattr(c, a) for c in calibrated.calibrators)]
            if missing:
                return f"a sigmoid calibrator has no {', '.join(missing)}"
        else:
            beta = _inverse_temperature(model)
            if beta is None:
                return f"a temperature calibrator has no {TEMPERATURE_ATTRIBUTE}"
            expected = softmax(beta * calibrated.estimator.decision_function(X_cal), axis=1)
            if not np.allclose(expected, model.predict_proba(X_cal), atol=1e-9):
                return "temperature-calibrated probabilities are no longer softmax(beta_ * decision values)"
        fast = _calibrated_proba(model, X_cal)
        if fast is None:
            return f"a {method}-calibrated SVC ({len(model.classes_)} classes) no longer has the expected structure"
        if not np.allclose(fast, _calibration.CalibratedClassifierCV.predict_proba(model, X_cal), atol=1e-9):
            return f"the {method}-calibrated probabilities differ from scikit-learn's"
    return None


def rbf_svc_decision(svc, X):
    """``svc.decision_function(X)`` of a fitted multi-class RBF SVC, computed with matrix products.

    Same one-vs-one sums (dual coefficients per class pair, plus the intercepts) and the
    same one-vs-rest vote as :class:`~sklearn.svm.SVC`; values equal up to rounding.

    Parameters
    ----------
    svc : estimator
        Any fitted estimator; only a dense multi-class RBF :class:`~sklearn.svm.SVC` with
        ``decision_function_shape="ovr"`` is computed here.
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_classes) or None
        ``None`` where this does not apply (another estimator, binary, sparse, another
        kernel) or where :func:`supported` is false: call ``svc.decision_function``.
    """
    if not _applies_to_svc(svc, X) or not supported():
        return None
    return _rbf_svc_decision(svc, X)


def rbf_svc_ovo_decision(svc, X):
    """One-vs-one decision values of a fitted multi-class RBF SVC, whatever its ``decision_function_shape``.

    What ``svc.decision_function(X)`` returns with ``decision_function_shape="ovo"`` (positive
    where a pair's first class wins), computed with matrix products.

    Parameters
    ----------
    svc : estimator
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_classes * (n_classes - 1) / 2) or None
        ``None`` where this does not apply (as :func:`rbf_svc_decision`).
    """
    if not _applies_to_svc(svc, X, shape=None) or not supported():
        return None
    return _rbf_svc_ovo(svc, X)


def _applies_to_svc(svc, X, shape="ovr"):
    return (
        # SVC itself, or a class that declares it computes its decision values as SVC does (FastSVC);
        # not a subclass with decision values of its own.
        (type(svc) is SVC or vars(type(svc)).get("_fast_decision_of_svc", False))
        and svc.kernel == "rbf"
        and shape in (None, svc.decision_function_shape)
        and hasattr(svc, "support_vectors_")
        and len(svc.classes_) >= 3
        and not sp.issparse(svc.support_vectors_)
        and not sp.issparse(X)
        and all(hasattr(svc, a) for a in SVC_ATTRIBUTES)
    )


def _rbf_svc_decision(svc, X):
    return ovr_from_ovo(_rbf_svc_ovo(svc, X), len(svc.classes_))


def _rbf_svc_ovo(svc, X):
    n_support = svc._n_support
    X = validate_data(svc, X, reset=False, dtype=np.float64, order="C")
    sv, coef, gamma = svc.support_vectors_, svc._dual_coef_, svc._gamma
    n_class = len(svc.classes_)
    start = np.concatenate([[0], np.cumsum(n_support)])
    pairs = class_pairs(n_class)
    # weights[k, p]: coefficient of support vector k in the decision of class pair p (libsvm's layout).
    weights = np.zeros((len(sv), len(pairs)))
    for p, (i, j) in enumerate(pairs):
        weights[start[i] : start[i + 1], p] = coef[j - 1, start[i] : start[i + 1]]
        weights[start[j] : start[j + 1], p] = coef[i, start[j] : start[j + 1]]
    sv_sq = np.einsum("ij,ij->i", sv, sv)
    dec = np.empty((len(X), len(pairs)))
    step = max(1, 2**22 // max(len(sv), 1))  # bounds the kernel block to 32 MiB
    with one_blas_thread():
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
    return dec


def fitted_gamma(svc):
    """The RBF width a fitted :class:`~sklearn.svm.SVC` uses (``gamma="scale"`` or ``"auto"`` resolved).

    Parameters
    ----------
    svc : SVC

    Returns
    -------
    float or None
        ``None`` where :func:`supported` is false.
    """
    if not supported() or not hasattr(svc, "_gamma"):
        return None
    return float(svc._gamma)


def inverse_temperature(model):
    """The inverse temperature ``beta`` of a temperature-calibrated classifier.

    Its probabilities are ``softmax(beta * f)``, ``f`` the calibrated estimator's decision values.

    Parameters
    ----------
    model : CalibratedClassifierCV
        Fitted with ``method="temperature"`` and one calibrated classifier (``ensemble=False``,
        or a frozen estimator).

    Returns
    -------
    float or None
        ``None`` for any other calibration, or where :func:`supported` is false.
    """
    if not supported():
        return None
    return _inverse_temperature(model)


def _inverse_temperature(model):
    calibrated = getattr(model, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1 or not _temperature_of_decision(calibrated[0]):
        return None
    beta = getattr(calibrated[0].calibrators[0], TEMPERATURE_ATTRIBUTE, None)
    return None if beta is None else float(beta)


def calibrated_proba(model, X):
    """``model.predict_proba(X)`` of a fitted :class:`~sklearn.calibration.CalibratedClassifierCV`, faster.

    For temperature scaling or Platt's sigmoids of a ``decision_function`` (what
    :func:`cnnsvm.classifiers.make_svm` builds): the sigmoids are applied to all classes in
    one vectorised step, and a multi-class RBF SVC's decision values come from
    :func:`rbf_svc_decision`. The same probabilities up to floating-point rounding.

    Parameters
    ----------
    model : CalibratedClassifierCV
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_classes) or None
        ``None`` for any other set-up, an unfitted model, or where :func:`supported` is
        false: call scikit-learn's ``predict_proba``.
    """
    calibrated = getattr(model, "calibrated_classifiers_", None)
    if not calibrated or not supported():
        return None
    return _calibrated_proba(model, X)


def _calibrated_proba(model, X):
    calibrated = model.calibrated_classifiers_
    if all(_temperature_of_decision(c) for c in calibrated):
        mean_proba = 0.0
        for c in calibrated:  # sklearn's _CalibratedClassifier.predict_proba, method="temperature"
            proba = np.asarray(c.calibrators[0].predict(_decision(c.estimator, X)), dtype=np.float64)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            mean_proba = mean_proba + proba
        return mean_proba / len(calibrated)
    if not all(_sigmoid_of_decision(c) for c in calibrated):
        return None
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
            mean_proba = np.zeros((len(proba), model.classes_.shape[0]))
        mean_proba += proba
    mean_proba /= len(calibrated)
    return mean_proba


def _decision(estimator, X):
    """Decision values of a calibrated classifier's estimator: BLAS for an RBF SVC, else its own."""
    if _applies_to_svc(estimator, X):
        return _rbf_svc_decision(estimator, X)
    return estimator.decision_function(X)


def _temperature_of_decision(calibrated):
    return (
        getattr(calibrated, "method", None) == "temperature"
        and hasattr(calibrated.estimator, "decision_function")
        and len(getattr(calibrated, "calibrators", ())) == 1
        and len(calibrated.classes) > 2
        and np.array_equal(calibrated.estimator.classes_, calibrated.classes)
    )


def _sigmoid_of_decision(calibrated):
    sigmoid = getattr(_calibration, SIGMOID_CALIBRATOR, None)
    return (
        sigmoid is not None
        and getattr(calibrated, "method", None) == "sigmoid"
        and hasattr(calibrated.estimator, "decision_function")
        and all(type(cal) is sigmoid and hasattr(cal, "a_") for cal in calibrated.calibrators)
        and len(calibrated.calibrators) == (1 if len(calibrated.classes) == 2 else len(calibrated.estimator.classes_))
        and np.isin(calibrated.estimator.classes_, calibrated.classes).all()
    )
