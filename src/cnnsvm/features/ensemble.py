"""Several fitted CNN extractors side by side: one feature vector, one softmax.

Networks trained alike but from different random starts make different
mistakes. :class:`ExtractorEnsemble` hands the SVM the members' features side
by side (one RBF kernel over all of them) and offers the mean of their softmax
heads as the ensemble's own. On validation data carved from the NHCD training
parts, two generic extractors read this way were at least as good as the average
single one on each set, ahead on consonants (2 to 3 of 886 images), and one numeral
behind the better single network: a small gain, not a decisive one
(``benchmarks/results/selection.md``, "An ensemble of extractors").
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features.cnn_extractor import CNNFeatureExtractor


class ExtractorEnsemble(TransformerMixin, BaseEstimator):
    """Fitted :class:`CNNFeatureExtractor` members read as one extractor.

    Nothing is trained: ``fit`` only checks that the members are fitted, take the
    same input and were trained on the same classes. ``clone`` keeps the fitted
    members (cloning them would unfit them).

    Parameters
    ----------
    extractors : list of CNNFeatureExtractor
        At least two, fitted, with the same ``input_shape_`` and ``classes_``.

    Attributes
    ----------
    classes_ : ndarray
        The members' classes (the columns of :meth:`softmax`).
    input_shape_ : tuple of int
        ``(height, width)`` of the images the members take.
    widths_ : tuple of int
        Number of features each member contributes, in order.
    n_spatial_features_ : int
        Width of :meth:`spatial_features`: the members' spatial widths summed.

    Examples
    --------
    >>> ensemble = ExtractorEnsemble([extractor_a, extractor_b]).fit()  # doctest: +SKIP
    >>> hybrid = make_hybrid(ensemble, image_size=28, label_offset=0)  # doctest: +SKIP
    """

    def __init__(self, extractors):
        self.extractors = extractors

    def __sklearn_clone__(self):
        return type(self)(list(self.extractors))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "widths_")

    def fit(self, X=None, y=None):
        """Check the members; nothing is trained.

        Parameters
        ----------
        X, y : ignored

        Returns
        -------
        self : ExtractorEnsemble
        """
        members = list(self.extractors) if isinstance(self.extractors, (list, tuple)) else None
        if not members or len(members) < 2:
            raise ConfigError("ExtractorEnsemble needs a list of at least two fitted extractors")
        for i, member in enumerate(members):
            if not isinstance(member, CNNFeatureExtractor):
                raise ConfigError(f"member {i} is a {type(member).__name__}, not a CNNFeatureExtractor")
            try:
                check_is_fitted(member)
            except NotFittedError:
                raise ConfigError(
                    f"member {i} is not fitted: train each extractor before putting it in an ensemble"
                ) from None
        first = members[0]
        for i, member in enumerate(members[1:], start=1):
            if tuple(member.input_shape_) != tuple(first.input_shape_):
                raise ConfigError(
                    f"member {i} takes {member.input_shape_} images, member 0 takes {first.input_shape_}: "
                    "the members of an ensemble must read the same images"
                )
            if not np.array_equal(np.asarray(member.classes_), np.asarray(first.classes_)):
                raise ConfigError(
                    f"member {i} was trained on other classes than member 0: the members of an ensemble must be "
                    "trained on the same data (with different seeds)"
                )
        self.classes_ = np.asarray(first.classes_)
        self.input_shape_ = tuple(first.input_shape_)
        self.widths_ = tuple(int(len(m.get_feature_names_out())) for m in members)
        return self

    @property
    def augmentation(self):
        """The members' augmentation strength (the default strength of views of the training images).

        Raises
        ------
        ConfigError
            If the members were trained with different strengths.
        """
        strengths = {float(m.augmentation) for m in self.extractors}
        if len(strengths) != 1:
            raise ConfigError(
                f"the members were trained with different augmentation strengths {sorted(strengths)}: give the "
                "strength of the views explicitly (FrozenExtractor(..., augmentation=S))"
            )
        return strengths.pop()

    @property
    def precision_(self):
        """The members' dtype policy (``None`` if they differ)."""
        if not hasattr(self, "widths_"):
            raise AttributeError("precision_ is known once the ensemble is fitted")
        precisions = {getattr(m, "precision_", None) for m in self.extractors}
        return precisions.pop() if len(precisions) == 1 else None

    def transform(self, X):
        """The members' features side by side.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples, sum(widths_))
        """
        check_is_fitted(self)
        return np.hstack([m.transform(X) for m in self.extractors])

    def softmax(self, X):
        """The mean of the members' softmax probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self.softmax_from_features(self.transform(X))

    def spatial_features(self, X):
        """The members' spatial features side by side (see :mod:`cnnsvm.features.spatial`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples, sum of the members' spatial widths)
            Each member's block starts with its embedding, as in
            :meth:`CNNFeatureExtractor.spatial_features`.
        """
        check_is_fitted(self)
        return np.hstack([m.spatial_features(X) for m in self.extractors])

    def spatial_feature_names_out(self):
        """Names of the columns of :meth:`spatial_features`.

        Returns
        -------
        ndarray of str objects
            The member index and the member's own name: ``m0_embedding0``, ...,
            ``m0_block3_cell0_ch0``, ..., ``m1_embedding0``, ...
        """
        return self._member_names(lambda m: m.spatial_feature_names_out())

    @property
    def n_spatial_features_(self):
        """Width of :meth:`spatial_features`: the members' spatial widths summed."""
        return sum(self._spatial_widths())

    def _spatial_widths(self):
        check_is_fitted(self)
        return tuple(m.n_spatial_features_ for m in self.extractors)

    def _member_names(self, names_of):
        """``m{i}_`` before each name ``names_of(member)`` gives, member after member."""
        check_is_fitted(self)
        names = [f"m{i}_{n}" for i, m in enumerate(self.extractors) for n in names_of(m)]
        return np.asarray(names, dtype=object)

    def softmax_from_features(self, features):
        """The mean of the members' softmax heads applied to their parts of ``features``.

        Parameters
        ----------
        features : array-like of shape (n_samples, sum(widths_)) or (n_samples, n_spatial_features)
            What :meth:`transform` or :meth:`spatial_features` returned.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        features = np.asarray(features, dtype=np.float32)
        widths = self.widths_
        if features.ndim == 2 and features.shape[1] != sum(widths):
            spatial = self._spatial_widths()
            widths = spatial if features.shape[1] == sum(spatial) else widths
        if features.ndim != 2 or features.shape[1] != sum(widths):
            raise DataError(
                f"expected features of shape (n_samples, {sum(self.widths_)}) from this ensemble's transform (or "
                f"(n_samples, {self.n_spatial_features_}) from spatial_features); got {features.shape}"
            )
        bounds = np.cumsum((0,) + tuple(widths))
        return np.mean(
            [
                m.softmax_from_features(features[:, a:b])
                for m, a, b in zip(self.extractors, bounds[:-1], bounds[1:], strict=True)
            ],
            axis=0,
        )

    def get_feature_names_out(self, input_features=None):
        """``m0_embedding0``, ..., ``m1_embedding0``, ...: member index and the member's own name.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str objects
        """
        return self._member_names(lambda m: m.get_feature_names_out())
