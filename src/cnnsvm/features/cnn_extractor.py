"""The CNN feature extractor: a network trained with a softmax head, read at its embedding layer."""

from __future__ import annotations

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cnnsvm.exceptions import DataError
from cnnsvm.features.cnn_base import BaseCNN
from cnnsvm.features.views import augmented_features, check_train_views


class CNNFeatureExtractor(TransformerMixin, BaseCNN):
    """Train a CNN on labelled images and transform images into its embedding.

    ``fit`` trains the network with a softmax head, on-the-fly augmentation
    (rotation, zoom, shift, shear), a validation split, early stopping with
    the best weights restored and learning-rate reduction on plateau.
    ``transform`` returns the output of the layer named ``"embedding"``,
    computed in batches of ``predict_batch_size``.

    Fit it once on several datasets together (see
    :func:`cnnsvm.data.combine_datasets`), then wrap it in
    :class:`sklearn.frozen.FrozenEstimator` to use it frozen inside
    per-dataset pipelines (:func:`cnnsvm.pipeline.make_hybrid` does this).

    Parameters
    ----------
    architecture : {"default", "article", "small"}, default="default"
        Preset of the architecture parameters below that are left at None.
    filters, convs_per_block, kernel_size, dense_units, dropout, conv_dropout, \
batch_norm, activation, pooling, optimizer, learning_rate : optional
        Architecture and optimiser hyperparameters; see
        :func:`cnnsvm.features.architectures.build_network`.
    epochs : int, default=20
        Maximum number of epochs.
    batch_size : int, default=128
        Training batch size.
    augmentation : float, default=1.0
        Strength of the random transforms (0 turns them off).
    elastic : float, default=0.0
        Strength of a random elastic distortion applied in training, after those
        transforms, to half of the images (0 leaves it out); see
        :class:`cnnsvm.features.augmentation.RandomElasticDistortion`.
    validation_fraction : float, default=0.1
        Share of the training data held out, stratified, for early stopping.
        Nothing is held out where the share would not hold a row of each class
        (then the training loss guides the guard); see
        :func:`cnnsvm.features.cnn_base.validation_rows`.
    patience : int, default=5
        Epochs without validation improvement before training stops (a guard;
        the weights of the best validation epoch are restored either way; the
        best training-loss epoch where nothing is held out).
    schedule : {"cosine", "plateau"}, default="cosine"
        Learning rate: ``"cosine"`` warms up linearly to ``learning_rate`` over
        the first epoch (or tenth of the run) and decays it along a cosine to
        nearly zero at ``epochs``; ``"plateau"`` starts at ``learning_rate`` and
        halves it when the validation loss stalls (the tutorials' recipe).
    precision : {"auto", "float32", "mixed_bfloat16", "mixed_float16"}, default="auto"
        Numeric precision of training. ``"auto"`` uses mixed precision where the
        hardware computes in 16 bits natively (float16 on a GPU, bfloat16 on a
        CPU with AVX-512 BF16 or AMX; see :mod:`cnnsvm.features.precision`) and
        float32 elsewhere. Weights, embedding (the SVM's features) and softmax
        stay float32; the policy used is ``precision_``.
    max_minutes : float or None, default=None
        Time budget of training: the schedule is shortened so that training
        ends within it (measured from the first epoch on).
    train_views : {"images", "augmented"}, default="images"
        What ``fit_transform`` (what a pipeline calls while fitting) returns:
        the features of fresh random augmented views of the training images
        (strength ``augmentation``; the images as they are when it is 0), or of
        the images as they are. The features of images the network was trained
        on are cleaner than those of unseen images; the steps after it in a
        pipeline should not be fitted on them (see :mod:`cnnsvm.features.views`).
        ``fit(X).transform(X)`` always gives the images' own features.
    predict_batch_size : int, default=1024
        Batch size of ``transform``.
    random_state : int, numpy.random.RandomState or None, default=0
        Seed of weights, augmentation and the validation split (a ``RandomState``
        gives one draw per ``fit``). ``fit`` seeds Keras's and TensorFlow's global
        generators (:func:`keras.utils.set_random_seed`: Keras has no per-model seed
        for every layer); Python's ``random`` and NumPy's global generator are
        restored after training (see :mod:`cnnsvm.features.seeds`).
    verbose : int, default=0
        1 prints one line per epoch with the ETA.

    Attributes
    ----------
    classes_ : ndarray
        Labels the network was trained on.
    network_ : keras.Model
        The trained network (softmax output).
    history_ : dict of list
        Loss and accuracy per epoch (``val_*`` with a validation split).
    input_shape_ : tuple of int
        (height, width) of the network's input.
    n_features_in_ : int
        Pixels per image.
    fit_time_ : float
        Seconds spent in training.
    precision_ : str
        The Keras dtype policy training used.
    random_seed_ : int or None
        The seed ``fit`` used (drawn from ``random_state`` when that is a ``RandomState``).
    n_spatial_features_ : int
        Width of :meth:`spatial_features` (a property of the fitted network).
    """

    def fit(self, X, y):
        """Train the network on images with their labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images (float pixels in [0, 1]); flat rows that are not a
            square number of pixels are read as one-row images.
        y : array-like of shape (n_samples,)
            Labels (at least two classes).

        Returns
        -------
        self : CNNFeatureExtractor
        """
        return self._fit_network(X, y)

    def fit_transform(self, X, y=None):
        """Train the network, then return the features of the training views (see ``train_views``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Preprocessed images.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out)
        """
        check_train_views(self.train_views)  # before an expensive training, not after
        self.fit(X, y)
        if self.train_views == "images" or not self.augmentation:
            return self.transform(X)
        return augmented_features(self, X, strength=self.augmentation, random_state=self.random_seed_)

    def transform(self, X):
        """The embedding of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out)
        """
        return self._forward(X, "embedding")

    def spatial_features(self, X):
        """The embedding followed by the last convolutional blocks' means over a grid of cells.

        Richer than the embedding on a set the network never saw (few-shot
        transfer; see :mod:`cnnsvm.features.spatial`). The first columns are
        those of :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_spatial_features)
        """
        return self._forward(X, "spatial")

    @property
    def n_spatial_features_(self):
        """Width of :meth:`spatial_features`: the embedding and the blocks' grid means."""
        check_is_fitted(self, "network_")
        return int(self._embedding("spatial").output_shape[-1])

    def spatial_feature_names_out(self):
        """Names of the columns of :meth:`spatial_features`.

        Returns
        -------
        ndarray of str objects
            ``embedding0``, ..., then ``block{b}_cell{c}_ch{k}``.
        """
        from cnnsvm.features.spatial import spatial_feature_names

        check_is_fitted(self, "network_")
        return np.asarray(spatial_feature_names(self._inference_network()), dtype=object)

    def softmax(self, X):
        """Probabilities of the network's own softmax head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        return self._forward(X, "softmax")

    def softmax_from_features(self, features):
        """The softmax head applied to features that :meth:`transform` returned.

        The head is one dense layer on the embedding (dropout is off at
        inference), so ``softmax_from_features(transform(X))`` equals
        ``softmax(X)`` without a second pass through the network. The output of
        :meth:`spatial_features` is taken too (its first columns are the embedding).

        Parameters
        ----------
        features : array-like of shape (n_samples, n_features_out) or (n_samples, n_spatial_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        check_is_fitted(self, "network_")
        kernel, bias = self._inference_network().get_layer("softmax").get_weights()
        features = np.asarray(features, dtype=np.float32)
        n = kernel.shape[0]
        if features.ndim == 2 and features.shape[1] != n:
            widths = (n, self.n_spatial_features_)
        else:
            widths = (n, n)
        if features.ndim != 2 or features.shape[1] not in widths:
            raise DataError(
                f"expected features of shape (n_samples, {widths[0]}) from this extractor's transform (or "
                f"(n_samples, {widths[1]}) from spatial_features); got {features.shape}"
            )
        features = features[:, : kernel.shape[0]]
        logits = features @ kernel + bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the network computes in float32
        return tags

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the features are the network's embedding, not functions of named inputs).

        Returns
        -------
        ndarray of str objects
            ``embedding0``, ``embedding1``, ...
        """
        check_is_fitted(self, "network_")
        n = int(self._embedding().output_shape[-1])
        return np.asarray([f"embedding{i}" for i in range(n)], dtype=object)
