"""The generic extractor: one CNN trained on the training parts of every dataset together.

:func:`train_generic_extractor` fits it on :func:`cnnsvm.data.combine_datasets`
of the training sets; :class:`~cnnsvm.classifiers.GenericSoftmaxClassifier` reads
its own softmax head restricted to one dataset's classes (the ``generic-softmax``
ablation), and, over all classes, is the form in which the extractor is exported.
"""

from __future__ import annotations

import time

from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

# GenericSoftmaxClassifier lived here; this import keeps models pickled under
# cnnsvm.experiments.generic.GenericSoftmaxClassifier loadable.
from cnnsvm.classifiers.generic_softmax import GenericSoftmaxClassifier
from cnnsvm.data import combine_datasets
from cnnsvm.data.preprocessing import ImagePreprocessor
from cnnsvm.exceptions import ConfigError
from cnnsvm.features.cnn_extractor import CNNFeatureExtractor
from cnnsvm.features.ensemble import ExtractorEnsemble
from cnnsvm.features.seeds import derived_seed
from cnnsvm.features.views import unwrap_extractor


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
    """The :class:`CNNFeatureExtractor` (or :class:`ExtractorEnsemble`) inside a generic-softmax or hybrid pipeline."""
    steps = dict(model.steps) if isinstance(model, Pipeline) else {}
    step = steps.get("softmax") or steps.get("cnn")
    step = unwrap_extractor(getattr(step, "extractor", step) if isinstance(step, GenericSoftmaxClassifier) else step)
    if not isinstance(step, (CNNFeatureExtractor, ExtractorEnsemble)):
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


def member_seed(seed, member):
    """``random_state`` of member ``member`` of an ensemble of generic extractors for ``seed``.

    Member 0 is ``seed`` itself (a lone extractor is member 0 of its ensemble, so
    an ensemble reuses it); the others come from ``numpy``'s seed sequence of
    ``(seed, member)``, so no two (seed, member) pairs share a network seed.
    """
    if member == 0:
        return int(seed)
    return derived_seed(seed, member)


def part_of(parts, name):
    """``(label_offset, n_classes)`` of dataset ``name`` in ``extra["parts"]``."""
    for part_name, offset, n_classes in parts:
        if part_name == name:
            return int(offset), int(n_classes)
    raise ConfigError(
        f"dataset {name!r} is not among the generic extractor's datasets ({', '.join(p[0] for p in parts)})"
    )
