"""The reject option: abstain when the classifier is unsure.

A prediction is rejected when the highest class probability is below a
threshold. A rejected sample gets a label that is never one of the classes
(:func:`default_reject_label`: ``-1`` for classes 0..K-1, below the smallest
class when ``-1`` is one, ``NaN`` for float classes, ``"?"`` for names), so a
rejection can never be read as an answer. Raising the threshold trades coverage for reliability, which
:func:`accuracy_rejection_curve` measures.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from cnnsvm.classifiers.selective import reaches_threshold
from cnnsvm.exceptions import ConfigError

#: Label of rejected samples for integer classes, unless -1 is itself a class (see :func:`default_reject_label`).
REJECT_LABEL = -1
#: Label of rejected samples for string classes, unless "?" is itself a class.
REJECT_NAME = "?"


def _check_threshold(threshold):
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"the reject threshold is a probability in [0, 1]; got {threshold}")
    return float(threshold)


def default_reject_label(classes):
    """A label for rejected samples that is none of ``classes``.

    - integer classes: ``-1``; if ``-1`` is a class (e.g. classes {-1, +1}), one
      less than the smallest class;
    - float classes: ``NaN`` (test with ``np.isnan``);
    - string classes: ``"?"``; if that is a class, ``"?"`` repeated until it is not;
    - any other classes (booleans, objects): ``None``.

    Parameters
    ----------
    classes : array-like
        The classifier's ``classes_``.

    Returns
    -------
    int, float, str or None
    """
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind in "iu":
        values = {int(c) for c in classes.tolist()}
        return REJECT_LABEL if REJECT_LABEL not in values else min(values) - 1
    if kind == "f":
        return float("nan")
    if kind in "US" or (kind == "O" and all(isinstance(c, str) for c in classes.tolist())):
        names = {str(c) for c in classes.tolist()}
        label = REJECT_NAME
        while label in names:
            label += REJECT_NAME
        return label
    return None


def _check_reject_label(reject_label, classes):
    """Refuse a reject label that is one of the classes (a rejection would read as that class)."""
    if reject_label is None or (isinstance(reject_label, float) and np.isnan(reject_label)):
        return
    try:
        clash = any(bool(reject_label == c) for c in np.asarray(classes).tolist())
    except (TypeError, ValueError):
        clash = False
    if clash:
        raise ConfigError(
            f"reject_label {reject_label!r} is one of the classes, so a rejection would read as that class; "
            "choose a label outside the classes, or leave reject_label=None for one that is"
        )


def predict_with_reject(model, X, threshold, reject_label=None, *, return_accepted=False):
    """Predict with a reject option.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` and ``classes_``
    X : array-like
        Inputs accepted by ``model``.
    threshold : float
        Minimum top probability for a prediction to be kept.
    reject_label : optional
        Label of rejected samples; it must not be one of the classes. ``None``
        (default) picks :func:`default_reject_label`, which never is.
    return_accepted : bool, default=False
        Also return the mask of the kept predictions.

    Returns
    -------
    labels : ndarray
        Predicted class, or the reject label where the model is unsure. Integer
        classes give an int64 array (``-1``, or below the smallest class, marks a
        rejection), float classes a float array (``NaN``), other classes an object array.
    confidence : ndarray of float
        Top class probability of each sample.
    accepted : ndarray of bool
        Only with ``return_accepted``: the predictions kept. A prediction is kept
        when its top probability reaches ``threshold``, compared as ``1 - threshold``
        against the sum of the other probabilities, which stays exact where the top
        probability rounds to 1.0 (see :func:`cnnsvm.classifiers.selective.residual_probability`).
    """
    threshold = _check_threshold(threshold)
    proba = model.predict_proba(X)
    classes = np.asarray(model.classes_)
    top = np.argmax(proba, axis=1)
    confidence = proba[np.arange(len(proba)), top]
    if reject_label is None:
        reject_label = default_reject_label(classes)
    else:
        _check_reject_label(reject_label, classes)
    predicted = classes[top]
    kind = classes.dtype.kind
    numeric_label = isinstance(reject_label, (int, float, np.integer, np.floating)) and not isinstance(
        reject_label, bool
    )
    if kind in "iu" and isinstance(reject_label, (int, np.integer)) and not isinstance(reject_label, bool):
        labels = predicted.astype(np.int64)
    elif kind in "iuf" and numeric_label:
        labels = predicted.astype(np.float64)
    else:
        labels = predicted.astype(object)
    accepted = reaches_threshold(proba, threshold)
    labels[~accepted] = reject_label
    return (labels, confidence, accepted) if return_accepted else (labels, confidence)


def accuracy_rejection_curve(y_true, proba, classes, thresholds=None):
    """Accuracy on the accepted samples as the reject threshold rises.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities, columns ordered as ``classes``.
    classes : array-like of shape (n_classes,)
    thresholds : array-like, optional
        Thresholds to evaluate; by default every distinct confidence.

    Returns
    -------
    dict of ndarray
        ``threshold``, ``rejection_rate`` (share abstained), ``accuracy``
        (reliability: accuracy on accepted samples; 1.0 when all are rejected)
        and ``error_rate`` (wrong accepted predictions over all samples).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    predicted = np.asarray(classes)[np.argmax(proba, axis=1)]
    confidence = proba.max(axis=1)
    correct = predicted == y_true
    if thresholds is None:
        thresholds = np.unique(np.concatenate([[0.0], confidence]))
    thresholds = np.asarray(thresholds, dtype=float)
    n = len(y_true)
    rejection, accuracy, error = [], [], []
    for t in thresholds:
        accepted = confidence >= t
        n_acc = int(accepted.sum())
        rejection.append(1.0 - n_acc / n)
        accuracy.append(float(correct[accepted].mean()) if n_acc else 1.0)
        error.append(float((accepted & ~correct).sum()) / n)
    return {
        "threshold": thresholds,
        "rejection_rate": np.asarray(rejection),
        "accuracy": np.asarray(accuracy),
        "error_rate": np.asarray(error),
    }


def rejection_for_reliability(curve, reliability=1.0):
    """Smallest rejection rate at which accuracy on accepted samples reaches ``reliability``.

    Returns ``(rejection_rate, threshold)``, or ``(1.0, None)`` when no threshold reaches it.
    """
    ok = np.flatnonzero(curve["accuracy"] >= reliability)
    if not len(ok):
        return 1.0, None
    best = ok[np.argmin(curve["rejection_rate"][ok])]
    return float(curve["rejection_rate"][best]), float(curve["threshold"][best])


class RejectOptionClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Wrap a probabilistic classifier so that ``predict`` abstains when unsure.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Cloned and fitted by ``fit``. Wrap a fitted one in
        :class:`sklearn.frozen.FrozenEstimator` to keep it as it is.
    threshold : float, default=0.9
        Minimum top probability for a prediction to be kept.
    reject_label : optional
        Label of rejected samples, outside the classes; ``None`` picks
        :func:`default_reject_label` (``-1`` for classes 0..K-1, never a class).

    Attributes
    ----------
    estimator_ : classifier
        The fitted inner classifier.
    classes_ : ndarray
        Its classes (the reject label is not one of them).
    """

    def __init__(self, estimator, threshold=0.9, reject_label=None):
        self.estimator = estimator
        self.threshold = threshold
        self.reject_label = reject_label

    def fit(self, X, y):
        """Fit a clone of ``estimator``.

        Parameters
        ----------
        X : array-like
            What ``estimator`` takes (images, for a cnnsvm pipeline).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : RejectOptionClassifier
        """
        _check_threshold(self.threshold)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        if self.reject_label is not None:
            _check_reject_label(self.reject_label, self.classes_)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags = inner.input_tags
        return tags

    def predict_proba(self, X):
        """Class probabilities of the inner classifier.

        Parameters
        ----------
        X : array-like
            What ``estimator`` takes (images, for a cnnsvm pipeline).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """Predicted class, or the reject label where the answer is not sure enough.

        Parameters
        ----------
        X : array-like
            What ``estimator`` takes (images, for a cnnsvm pipeline).

        Returns
        -------
        ndarray of shape (n_samples,)
            A class, or ``reject_label`` where the other classes' probability mass
            exceeds ``1 - threshold`` (see :func:`predict_with_reject`).
        """
        check_is_fitted(self, "estimator_")
        return predict_with_reject(self.estimator_, X, self.threshold, self.reject_label)[0]

    def reliability_score(self, X, y):
        """Accuracy on the accepted samples, and the share rejected.

        Parameters
        ----------
        X : array-like
            What ``estimator`` takes (images, for a cnnsvm pipeline).
        y : array-like of shape (n_samples,)
            True labels.

        Returns
        -------
        reliability : float
            Accuracy on the accepted samples (1.0 when all are rejected).
        rejection_rate : float
        """
        labels, _, accepted = predict_with_reject(
            self.estimator_, X, self.threshold, self.reject_label, return_accepted=True
        )
        if not accepted.any():
            return 1.0, 1.0
        return float(np.mean(labels[accepted] == np.asarray(y)[accepted])), float(1 - accepted.mean())
