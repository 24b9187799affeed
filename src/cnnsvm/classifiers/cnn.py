"""The "CNN from scratch" baseline: the network's own softmax head as the classifier."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin

from cnnsvm.features.cnn_base import BaseCNN


class CNNClassifier(ClassifierMixin, BaseCNN):
    """A CNN trained end to end with a softmax head.

    Takes the same parameters as :class:`cnnsvm.features.CNNFeatureExtractor`;
    ``architecture="article"`` gives the Devanagari article's network
    (conv32-conv64-maxpool-dropout .25-dense256-dropout .8-softmax, RMSprop).

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    network_ : keras.Model
        The trained network.
    history_ : dict of list
        Loss and accuracy per epoch.
    """

    def fit(self, X, y):
        """Train the network on images with their labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].
        y : array-like of shape (n_samples,)
            Labels (at least two classes).

        Returns
        -------
        self : CNNClassifier
        """
        return self._fit_network(X, y)

    def predict_proba(self, X):
        """Class probabilities of the softmax head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        return self._forward(X, "softmax")

    def predict(self, X):
        """Most probable class of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images, float pixels in [0, 1].

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
