"""The generic extractor: one CNN trained on the training parts of every dataset together.

:func:`train_generic_extractor` fits it on :func:`cnnsvm.data.combine_datasets`
of the training sets; :class:`GenericSoftmaxClassifier` reads its own softmax
head restricted to one dataset's classes (the ``generic-softmax`` ablation),
and, over all classes, is the form in which the extractor is exported.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from cnnsvm.data import combine_datasets
from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features.cnn_extractor import CNNFeatureExtractor
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
        """Select the softmax columns; ``y``, if given, must hold only the dataset's labels."""
        inner = unwrap_extractor(self.extractor)
        check_is_fitted(inner, "network_")
        combined = np.asarray(inner.classes_)
        n = len(combined) - int(self.label_offset) if self.n_classes is None else int(self.n_classes)
        wanted = np.arange(int(self.label_offset), int(self.label_offset) + n)
        positions = np.searchsorted(combined, wanted)
        if n < 1 or np.any(positions >= len(combined)) or np.any(combined[np.minimum(positions, len(combined) - 1)] != wanted):
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
        """Softmax probabilities of the dataset's classes, renormalised to sum to one."""
        check_is_fitted(self, "columns_")
        proba = np.asarray(self.extractor.softmax(X), dtype=np.float64)[:, self.columns_]
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.divide(proba, total, out=uniform, where=total > 0)

    def predict(self, X):
        """The most probable of the dataset's classes."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_generic_softmax(extractor, *, image_size, label_offset=0, n_classes=None):
    """Pipeline: images -> :class:`ImagePreprocessor` -> :class:`GenericSoftmaxClassifier`.

    Parameters
    ----------
    extractor : CNNFeatureExtractor
        Fitted on images preprocessed to ``image_size``.
    image_size : int
    label_offset, n_classes : see :class:`GenericSoftmaxClassifier`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted: ``fit`` on the dataset's training images fits the
        preprocessor and selects the columns; the network is not retrained.
    """
    frozen = extractor if isinstance(extractor, FrozenEstimator) else FrozenEstimator(extractor)
    return Pipeline(
        [
            ("preprocess", ImagePreprocessor(image_size=image_size)),
            ("softmax", GenericSoftmaxClassifier(frozen, label_offset=label_offset, n_classes=n_classes)),
        ]
    )


def extractor_of(model):
    """The :class:`CNNFeatureExtractor` inside a generic-softmax pipeline or a hybrid pipeline."""
    steps = dict(model.steps) if isinstance(model, Pipeline) else {}
    step = steps.get("softmax") or steps.get("cnn")
    step = unwrap_extractor(getattr(step, "extractor", step) if isinstance(step, GenericSoftmaxClassifier) else step)
    if not isinstance(step, CNNFeatureExtractor):
        raise ConfigError(f"{type(model).__name__} holds no CNNFeatureExtractor")
    return step


def train_generic_extractor(train_sets, params, *, image_size, random_state, verbose=0):
    """Train one extractor on the training parts of all datasets together.

    Parameters
    ----------
    train_sets : list of ImageDataset
        Training parts only (test data must never be passed here); distinct names.
    params : dict
        :class:`CNNFeatureExtractor` parameters (architecture, epochs, augmentation, ...).
    image_size : int
        Side of the network's input.
    random_state : int
    verbose : int, default=0
        1 prints a line per epoch.

    Returns
    -------
    model : sklearn.pipeline.Pipeline
        Fitted :func:`make_generic_softmax` over every class (the exportable form;
        :func:`extractor_of` gives the extractor).
    combined : ImageDataset
        What it was trained on (``extra["parts"]`` maps datasets to labels).
    fit_seconds : float
        Wall time of preprocessing and training.
    """
    combined = combine_datasets(train_sets, name="generic")
    start = time.perf_counter()
    preprocess = ImagePreprocessor(image_size=image_size)
    X = preprocess.fit_transform(combined.images)
    extractor = CNNFeatureExtractor(random_state=random_state, verbose=verbose, **params)
    extractor.fit(X, combined.labels)
    model = make_generic_softmax(extractor, image_size=image_size)
    model.steps[0] = ("preprocess", preprocess)
    model.steps[1][1].fit()
    return model, combined, time.perf_counter() - start


def part_of(parts, name):
    """``(label_offset, n_classes)`` of dataset ``name`` in ``extra["parts"]``."""
    for part_name, offset, n_classes in parts:
        if part_name == name:
            return int(offset), int(n_classes)
    raise ConfigError(f"dataset {name!r} is not among the generic extractor's datasets "
                      f"({', '.join(p[0] for p in parts)})")
