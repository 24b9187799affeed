"""Classify with a fitted CNN extractor's own softmax head, restricted to one dataset's classes."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features.views import unwrap_extractor


def label_columns(network_classes, wanted):
    """Positions of the labels ``wanted`` among a network's ``classes_``, or ``None`` if any is missing.

    Parameters
    ----------
    network_classes : ndarray
        The labels of the softmax columns, in column order.
    wanted : ndarray
        Labels to find (integers are matched across integer dtypes; other kinds must agree).

    Returns
    -------
    ndarray of int or None
    """
    network_classes, wanted = np.asarray(network_classes), np.asarray(wanted)
    same_kind = network_classes.dtype.kind == wanted.dtype.kind or (
        network_classes.dtype.kind in "iu" and wanted.dtype.kind in "iu"
    )
    if not same_kind or len(network_classes) == 0:
        return None
    order = np.argsort(network_classes)
    positions = np.minimum(np.searchsorted(network_classes, wanted, sorter=order), len(network_classes) - 1)
    columns = order[positions]
    return None if np.any(network_classes[columns] != wanted) else columns


def softmax_block(proba, columns):
    """Softmax probabilities restricted to ``columns`` and renormalised to sum to one (uniform where all are 0).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_network_classes)
    columns : ndarray of int

    Returns
    -------
    ndarray of shape (n_samples, len(columns)), float64
    """
    block = np.asarray(proba, dtype=np.float64)[:, columns]
    total = block.sum(axis=1, keepdims=True)
    uniform = np.full_like(block, 1.0 / block.shape[1])
    return np.divide(block, total, out=uniform, where=total > 0)


class GenericSoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """Classify with a fitted extractor's own softmax, restricted to a block of its classes.

    The generic CNN is trained on the union of several datasets' classes,
    dataset ``i`` owning the labels ``label_offset .. label_offset + n_classes - 1``
    (see ``extra["parts"]`` of :func:`cnnsvm.data.combine_datasets`). This
    classifier keeps those softmax columns, renormalises them and predicts the
    dataset's own labels ``0 .. n_classes - 1``. ``fit`` trains nothing.

    Parameters
    ----------
    extractor : CNNFeatureExtractor or FrozenEstimator
        A fitted extractor (it stays as it is; wrap it in
        :class:`~sklearn.frozen.FrozenEstimator` so that ``clone`` keeps it fitted).
    label_offset : int, default=0
        First combined label of the dataset.
    n_classes : int or None, default=None
        Number of the dataset's classes; ``None``: every class of the extractor.

    Attributes
    ----------
    classes_ : ndarray of int
        ``0 .. n_classes - 1``.
    columns_ : ndarray of int
        Softmax columns read, ordered as ``classes_``.
    """

    def __init__(self, extractor, label_offset=0, n_classes=None):
        self.extractor = extractor
        self.label_offset = label_offset
        self.n_classes = n_classes

    def fit(self, X=None, y=None):
        """Select the softmax columns (the network is not retrained).

        Parameters
        ----------
        X : ignored
        y : array-like of shape (n_samples,), optional
            If given, it must hold only the dataset's labels ``0 .. n_classes - 1``.

        Returns
        -------
        self : GenericSoftmaxClassifier
        """
        inner = unwrap_extractor(self.extractor)
        check_is_fitted(inner)
        combined = np.asarray(inner.classes_)
        n = len(combined) - int(self.label_offset) if self.n_classes is None else int(self.n_classes)
        wanted = np.arange(int(self.label_offset), int(self.label_offset) + n)
        positions = label_columns(combined, wanted)
        if n < 1 or positions is None:
            raise ConfigError(
                f"the extractor was trained on labels {combined.min()}..{combined.max()}, which do not include "
                f"{wanted.min() if n else '?'}..{wanted.max() if n else '?'}; check label_offset and n_classes"
            )
        self.columns_ = positions
        self.classes_ = np.arange(n)
        if y is not None:
            unknown = np.setdiff1d(np.unique(np.asarray(y)), self.classes_)
            if len(unknown):
                raise DataError(f"labels {unknown[:10].tolist()} are outside this dataset's 0..{n - 1}")
        return self

    def predict_proba(self, X):
        """Softmax probabilities of the dataset's classes, renormalised to sum to one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "columns_")
        return softmax_block(self.extractor.softmax(X), self.columns_)

    def predict(self, X):
        """The most probable of the dataset's classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # first: an unfitted model raises NotFittedError, not AttributeError
        return self.classes_[np.argmax(proba, axis=1)]
