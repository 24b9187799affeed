"""Classify with a fitted CNN extractor's own softmax head, restricted to one dataset's classes."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features.views import unwrap_extractor


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
        check_is_fitted(inner, "network_")
        combined = np.asarray(inner.classes_)
        n = len(combined) - int(self.label_offset) if self.n_classes is None else int(self.n_classes)
        wanted = np.arange(int(self.label_offset), int(self.label_offset) + n)
        positions = np.searchsorted(combined, wanted)
        if (
            n < 1
            or np.any(positions >= len(combined))
            or np.any(combined[np.minimum(positions, len(combined) - 1)] != wanted)
        ):
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
        proba = np.asarray(self.extractor.softmax(X), dtype=np.float64)[:, self.columns_]
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.divide(proba, total, out=uniform, where=total > 0)

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
