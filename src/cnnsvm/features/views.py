"""Features of the training images as the steps after the CNN should see them.

The features of images the CNN was trained on are cleaner than those of unseen
images: the network has fitted them. An SVM and its probability calibration
fitted on them learn margins and sigmoids that are too sure of themselves, and
saturated probabilities cannot rank the errors of unseen images. Features of
fresh random views of the training images (the same transforms as the CNN's
augmentation, new draws) are closer to those of unseen images.

:class:`FrozenExtractor` wraps a fitted extractor for a pipeline: ``transform``
gives the features of the images as they are, ``fit_transform`` (what a
pipeline calls while fitting) the features of their views, so the scaler and
the SVM after it are fitted on the views (as scikit-learn's ``TargetEncoder``
cross-fits in ``fit_transform``).

Measured on validation data carved from the NHCD training parts
(``benchmarks/results/selection.md``), fitting the SVM on views cost accuracy on
every set (0.3 to 1.6 points), so the default is ``train_views="images"``; what
fixed the ranking of the hybrid's errors was the calibration method
(:data:`cnnsvm.classifiers.svm.CALIBRATIONS`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cnnsvm.exceptions import ConfigError
from cnnsvm.features.augmentation import build_augmentation
from cnnsvm.features.seeds import derived_seed, int_seed
from cnnsvm.features.spatial import check_features

TRAIN_VIEWS = ("images", "augmented")


def check_train_views(train_views):
    """Validate a ``train_views`` parameter."""
    if train_views not in TRAIN_VIEWS:
        raise ConfigError(f"train_views must be one of {TRAIN_VIEWS}; got {train_views!r}")
    return train_views


def augmented_features(extractor, X, *, strength=1.0, random_state=0, batch_size=1024, features="embedding"):
    """Features of one random augmented view of each image.

    Parameters
    ----------
    extractor : fitted CNNFeatureExtractor
    X : ndarray of shape (n_samples, n_pixels) or (n_samples, height, width)
        Preprocessed images, as ``extractor.transform`` takes them.
    strength : float, default=1.0
        Augmentation strength (see :func:`cnnsvm.features.build_augmentation`).
    random_state : int, numpy.random.RandomState or None, default=0
        Seed of the views.
    batch_size : int, default=1024
    features : {"embedding", "spatial"}, default="embedding"
        Which features of the views (see :class:`FrozenExtractor`).

    Returns
    -------
    ndarray of shape (n_samples, n_features_out)
    """
    read = _reader(extractor, features)
    X = np.asarray(X, dtype=np.float32)
    height, width = extractor.input_shape_
    # A seed stream of its own: the network's augmentation was seeded with random_state itself.
    seed = int_seed(random_state)
    augment = build_augmentation(strength, seed=None if seed is None else derived_seed(seed, 1))  # checks strength
    if not makes_views(extractor, strength) or not len(X):
        return read(X)
    views = np.empty((len(X), height * width), np.float32)
    for i in range(0, len(X), batch_size):
        batch = X[i : i + batch_size].reshape(-1, height, width, 1)
        views[i : i + len(batch)] = np.asarray(augment(batch, training=True)).reshape(len(batch), -1)
    return read(views)


def views_features(extractor, X, n_views, *, strength, seed, features="embedding"):
    """Features of ``n_views`` random augmented views of each image, one array per view.

    The views are drawn in one pass over the images repeated ``n_views`` times
    (one call of the network instead of one per view).

    Parameters
    ----------
    extractor : fitted CNNFeatureExtractor or ExtractorEnsemble
    X : ndarray of shape (n_samples, n_pixels) or (n_samples, height, width)
        Preprocessed images.
    n_views : int
    strength : float
        Augmentation strength of the views.
    seed : tuple of int
        The views are drawn with the seed ``derived_seed(*seed)``.
    features : {"embedding", "spatial"}, default="embedding"

    Returns
    -------
    list of ndarray of shape (n_samples, n_features_out)
    """
    if not n_views:
        return []
    X = np.asarray(X, dtype=np.float32)
    repeated = np.tile(X, (n_views,) + (1,) * (X.ndim - 1))
    seed = derived_seed(*seed)
    return np.split(
        augmented_features(extractor, repeated, strength=strength, random_state=seed, features=features), n_views
    )


def makes_views(extractor, strength):
    """Whether :func:`augmented_features` transforms the images: a strength above 0 and images of
    at least 8 pixels a side (smaller ones are read as they are: a view would be a copy)."""
    return bool(strength) and min(extractor.input_shape_) >= 8


def _reader(extractor, features):
    """The extractor's method that computes ``features``."""
    check_features(features)
    if features == "embedding":
        return extractor.transform
    read = getattr(extractor, "spatial_features", None)
    if read is None:
        raise ConfigError(
            f'features="spatial" needs a CNNFeatureExtractor or an ExtractorEnsemble; {type(extractor).__name__} '
            'has no spatial features: use features="embedding" (command line: --features embedding)'
        )
    return read


class FrozenExtractor(TransformerMixin, BaseEstimator):
    """A fitted CNN feature extractor, frozen inside a per-dataset pipeline.

    ``fit`` trains nothing. ``transform`` returns the extractor's features;
    ``fit_transform`` returns the features of random augmented views of the
    images when ``train_views="augmented"``, so that the steps after it are
    fitted on features like those of unseen images (see the module docstring).
    ``clone`` keeps the same fitted extractor.

    Parameters
    ----------
    extractor : CNNFeatureExtractor or ExtractorEnsemble
        Fitted.
    train_views : {"images", "augmented"}, default="images"
        What ``fit_transform`` extracts features from.
    augmentation : float or None, default=None
        Strength of the views' random transforms; ``None``: the strength the
        extractor was trained with (no views, the images as they are, if 0).
    random_state : int, numpy.random.RandomState or None, default=0
        Seed of the views.
    features : {"embedding", "spatial"}, default="embedding"
        What ``transform`` hands on: the extractor's embedding, or the
        embedding followed by its last convolutional blocks' means over a grid
        of cells (``extractor.spatial_features``; richer on a set the
        extractor never saw, see :mod:`cnnsvm.features.spatial`; an
        ensemble hands on its members' side by side).
    """

    def __init__(self, extractor, train_views="images", augmentation=None, random_state=0, features="embedding"):
        self.extractor = extractor
        self.train_views = train_views
        self.augmentation = augmentation
        self.random_state = random_state
        self.features = features

    def __setstate__(self, state):
        # Model files written before the ``features`` parameter existed read the embedding.
        state.setdefault("features", "embedding")
        super().__setstate__(state)

    def __sklearn_clone__(self):
        # A new wrapper around the same fitted extractor (cloning it would unfit it).
        return type(self)(**self.get_params(deep=False))

    def __sklearn_is_fitted__(self):
        check_is_fitted(self.extractor)
        return True

    def fit(self, X=None, y=None):
        """Check the parameters; the extractor is not retrained.

        Parameters
        ----------
        X, y : ignored

        Returns
        -------
        self : FrozenExtractor
        """
        check_train_views(self.train_views)
        _reader(self.extractor, self.features)
        check_is_fitted(self.extractor)
        return self

    def transform(self, X):
        """Features of the images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples, n_features_out)
        """
        return _reader(self.extractor, self.features)(X)

    def fit_transform(self, X, y=None):
        """Features of the images' training views (see ``train_views``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].
        y : ignored

        Returns
        -------
        ndarray of shape (n_samples, n_features_out)
        """
        self.fit(X, y)
        if self.train_views == "images" or not self.view_strength():
            return self.transform(X)
        return augmented_features(
            self.extractor, X, strength=self.view_strength(), random_state=self.random_state, features=self.features
        )

    def view_strength(self):
        """The strength of the views' random transforms: ``augmentation``, or the extractor's own if None.

        Returns
        -------
        float
        """
        return self.extractor.augmentation if self.augmentation is None else self.augmentation

    def get_feature_names_out(self, input_features=None):
        """Names of the extractor's output features.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str objects
        """
        _reader(self.extractor, self.features)
        if self.features == "spatial":
            return self.extractor.spatial_feature_names_out()
        return self.extractor.get_feature_names_out(input_features)


def unwrap_extractor(step):
    """The CNN estimator inside a pipeline step: unwraps :class:`FrozenExtractor` and
    :class:`sklearn.frozen.FrozenEstimator`; any other step is returned as it is."""
    if isinstance(step, FrozenExtractor):
        return step.extractor
    from sklearn.frozen import FrozenEstimator

    return step.estimator if isinstance(step, FrozenEstimator) else step


def is_frozen(step):
    """Whether a pipeline step holds a CNN it did not train itself."""
    from sklearn.frozen import FrozenEstimator

    return isinstance(step, (FrozenExtractor, FrozenEstimator))
