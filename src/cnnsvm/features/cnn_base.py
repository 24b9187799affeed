"""Training and inference shared by the CNN feature extractor and the CNN classifier."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from cnnsvm.exceptions import ConfigError, DataError
from cnnsvm.features.architectures import build_network, build_optimizer, resolve_architecture
from cnnsvm.features.augmentation import build_augmentation
from cnnsvm.features.callbacks import EpochProgress, EpochTimer, TimeBudget, WarmupCosine
from cnnsvm.features.precision import detect_precision, resolve_precision
from cnnsvm.features.seeds import int_seed, keras_seeded

SCHEDULES = ("cosine", "plateau")


def validation_rows(targets, fraction, n_classes, seed):
    """The rows a CNN holds out for early stopping: ``(train rows, validation rows)``, or ``None``.

    A share ``fraction`` of the rows, stratified by class where every class has
    two rows, drawn with ``seed``; where a class has a single row the share is
    drawn unstratified, so that row may be held out and its class then trains
    on nothing. ``None`` where nothing is held out: no share,
    a share too small to hold a row of each class, or too few rows to keep a row
    of each class for training. A hold-out that misses most classes cannot choose
    an epoch: on 7 images of a 36-class set, two examples per class, the
    validation loss rises from the first epochs on while the network learns, and
    the epoch kept was an untrained network answering one class for every image.
    Public so that analyses can find a fitted network's held-out rows again
    (``benchmarks/holdout_selection.py``).

    Parameters
    ----------
    targets : ndarray of shape (n_samples,)
        Encoded labels, ``0 .. n_classes - 1``.
    fraction : float or None
    n_classes : int
    seed : int

    Returns
    -------
    tuple of two int ndarrays, or None
    """
    fraction = float(fraction or 0.0)
    n_val = int(round(fraction * len(targets)))
    if fraction <= 0 or n_val < n_classes or len(targets) - n_val < n_classes:
        return None
    stratify = targets if np.bincount(targets).min() >= 2 else None
    return tuple(train_test_split(np.arange(len(targets)), test_size=n_val, stratify=stratify, random_state=seed))


def images_from_features(X):
    """Lay out a batch as single-channel images (n, h, w, 1).

    (n, h, w) and (n, h, w, 1) are kept; a flat (n, d) batch becomes square
    images when d is a perfect square, else one-row images of width d.
    """
    if X.ndim == 2:
        side = math.isqrt(X.shape[1])
        shape = (side, side) if side * side == X.shape[1] else (1, X.shape[1])
        return X.reshape(len(X), *shape, 1)
    if X.ndim == 3:
        return X[..., None]
    if X.ndim == 4 and X.shape[-1] == 1:
        return X
    raise DataError(
        f"expected images of shape (n_samples, height, width) or flat features (n_samples, n_features); "
        f"got shape {X.shape}"
    )


class BaseCNN(BaseEstimator):
    """Common parameters, training loop and batched forward pass of the CNN estimators.

    Architecture parameters left at ``None`` take the value of the ``architecture`` preset
    (see :data:`cnnsvm.features.architectures.PRESETS`).

    Besides the attributes the subclasses list, ``fit`` sets ``epoch_times_``: the wall
    time of each epoch in seconds, validation included (``benchmarks/perf.py`` reads it).
    """

    def __init__(
        self,
        architecture="default",
        *,
        filters=None,
        convs_per_block=None,
        kernel_size=None,
        dense_units=None,
        dropout=None,
        conv_dropout=None,
        batch_norm=None,
        activation=None,
        pooling=None,
        optimizer=None,
        learning_rate=None,
        epochs=20,
        batch_size=128,
        augmentation=1.0,
        elastic=0.0,
        validation_fraction=0.1,
        patience=5,
        schedule="cosine",
        precision="auto",
        max_minutes=None,
        train_views="images",
        predict_batch_size=1024,
        random_state=0,
        verbose=0,
    ):
        self.architecture = architecture
        self.filters = filters
        self.convs_per_block = convs_per_block
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dropout = dropout
        self.conv_dropout = conv_dropout
        self.batch_norm = batch_norm
        self.activation = activation
        self.pooling = pooling
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.elastic = elastic
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.schedule = schedule
        self.precision = precision
        self.max_minutes = max_minutes
        self.train_views = train_views
        self.predict_batch_size = predict_batch_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def _architecture_params(self):
        names = (
            "filters convs_per_block kernel_size dense_units dropout conv_dropout batch_norm "
            "activation pooling optimizer learning_rate"
        ).split()
        return resolve_architecture(self.architecture, **{n: getattr(self, n) for n in names})

    def _validate_X(self, X, reset):
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if (
            not reset
            and type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype == np.float32
            and len(X)
            and X.shape[1] == getattr(self, "n_features_in_", None)
            and not hasattr(self, "feature_names_in_")
            and np.isfinite(X).all()
        ):
            # Prediction on what ImagePreprocessor hands over (valid float32 rows): the checks
            # validate_data would repeat cost more than a one-image forward pass. Anything
            # else, including invalid input, goes through sklearn's checks and messages.
            images = images_from_features(X)
            if tuple(images.shape[1:3]) == self.input_shape_:
                return images
        if sp.issparse(X) or hasattr(X, "iloc") or len(getattr(X, "shape", ())) <= 2:
            # sklearn's own checks and messages for tables, sparse input, 1-D input, NaN
            X_arr = validate_data(self, X, reset=reset, dtype=np.float32)
        else:
            X_arr = np.asarray(X, dtype=np.float32)
            if not np.isfinite(X_arr).all():
                raise DataError("Input X contains NaN or infinity; clean or drop those samples")
            n_features = int(np.prod(X_arr.shape[1:]))
            if reset:
                self.n_features_in_ = n_features
            elif n_features != self.n_features_in_:
                raise DataError(
                    f"X has {n_features} features per sample, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input"
                )
        images = images_from_features(X_arr)
        if reset:
            self.input_shape_ = tuple(int(s) for s in images.shape[1:3])
        elif tuple(images.shape[1:3]) != self.input_shape_:
            raise DataError(
                f"images are {images.shape[1]}x{images.shape[2]} but this model was fitted on "
                f"{self.input_shape_[0]}x{self.input_shape_[1]} images"
            )
        return images

    def _fit_network(self, X, y):
        """Encode labels, train the network, keep the best weights; sets the fitted attributes."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        images = self._validate_X(X, reset=True)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim != 1 or len(y) != len(images):
            raise DataError(f"y must hold one label per image: got {len(images)} images and labels of shape {y.shape}")
        check_classification_targets(y)
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        if len(self.classes_) < 2:
            raise DataError(
                f"the training labels hold only one class ({self.classes_[0]!r}); "
                "a classifier needs samples of at least 2 classes"
            )
        targets = self.label_encoder_.transform(y).astype(np.int32)
        params = self._architecture_params()
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")
        if self.max_minutes is not None and not float(self.max_minutes) > 0:
            raise ConfigError(f"max_minutes must be a positive number of minutes; got {self.max_minutes!r}")
        self.precision_ = resolve_precision(self.precision)
        self.random_seed_ = int_seed(self.random_state)
        with keras_seeded(self.random_seed_):
            self._train(images, targets, params)
        return self

    def _train(self, images, targets, params):
        x_train, y_train, validation = self._validation_split(images, targets)
        network = build_network(self.input_shape_, len(self.classes_), params, dtype=self.precision_)
        augment = None
        if min(self.input_shape_) >= 8:
            augment = build_augmentation(self.augmentation, seed=self.random_seed_, elastic=self.elastic)
        trainer = network if augment is None else keras.Sequential([augment, network])
        optimizer = build_optimizer(params)
        if self.precision_ == "mixed_float16":  # float16 gradients underflow without loss scaling
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        trainer.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        monitor = "val_loss" if validation is not None else "loss"
        timer = EpochTimer()
        max_seconds = None if self.max_minutes is None else 60.0 * float(self.max_minutes)
        callbacks = [
            timer,
            # A guard with the cosine schedule; the best epoch's weights are restored at the end.
            keras.callbacks.EarlyStopping(monitor=monitor, patience=self.patience, restore_best_weights=True),
        ]
        if self.schedule == "cosine":
            steps = math.ceil(len(x_train) / int(self.batch_size))
            callbacks.append(WarmupCosine(params["learning_rate"], self.epochs, steps, max_seconds))
        else:
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor=monitor, factor=0.5, patience=max(1, self.patience // 2), min_lr=1e-5
                )
            )
            if max_seconds is not None:
                callbacks.append(TimeBudget(max_seconds))
        if self.verbose:
            callbacks.append(EpochProgress(label=type(self).__name__))
        start = time.perf_counter()
        history = trainer.fit(
            x_train,
            y_train,
            batch_size=int(self.batch_size),
            epochs=int(self.epochs),
            validation_data=validation,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        self.fit_time_ = time.perf_counter() - start
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = len(next(iter(self.history_.values()), []))
        self.epoch_times_ = [float(t) for t in timer.times]
        self.network_ = network
        self._predict_fns = {}

    def _validation_split(self, images, targets):
        rows = validation_rows(targets, self.validation_fraction, len(self.classes_), self.random_seed_)
        if rows is None:
            return images, targets, None
        train, val = rows
        return images[train], targets[train], (images[val], targets[val])

    # ---------------------------------------------------------------- inference
    def _compiled(self):
        """The per-model cache of the inference network and compiled forward passes."""
        fns = self.__dict__.get("_predict_fns")
        if fns is None:
            fns = self._predict_fns = {}
        return fns

    def _inference_network(self):
        """The network that predicts: the trained one, or a float32 copy of a mixed-precision
        network on a machine without native 16-bit arithmetic (where 16-bit math is emulated)."""
        fns = self._compiled()
        net = fns.get("network")
        if net is None:
            net = self.network_
            policy = getattr(self, "precision_", "float32")
            if policy != "float32" and detect_precision() != policy:
                net = build_network(self.input_shape_, len(self.classes_), self._architecture_params())
                net.set_weights(self.network_.get_weights())
            fns["network"] = net  # in place, like the compiled functions below
        return net

    def _embedding(self, output="embedding"):
        """The model from the input to the features: ``"embedding"``, or ``"spatial"``
        (the embedding and the convolutional blocks' grid means, :mod:`cnnsvm.features.spatial`)."""
        fns = self._compiled()
        model = fns.get(f"{output}_model")
        if model is None:
            net = self._inference_network()
            if output == "spatial":
                from cnnsvm.features.spatial import spatial_model

                model = spatial_model(net)
            else:
                model = keras.Model(net.input, net.get_layer("embedding").output)
            fns[f"{output}_model"] = model  # in place: transforming leaves __dict__ unchanged
        return model

    def _predict_function(self, output):
        """The compiled forward pass to ``output`` ("softmax", "embedding" or "spatial"), built once per model.

        Calling a Keras model eagerly dispatches every layer from Python: about 10 ms
        for one image on 2 CPU cores, several times the arithmetic. A ``tf.function``
        with a fixed signature (any batch size, the fitted image shape) is traced once,
        runs as one graph (with TensorFlow's CPU fusions) and serves every batch; its
        concrete function is called directly, which skips the argument binding of
        ``tf.function.__call__`` (about 0.5 ms a call).
        """
        fns = self._compiled()
        fn = fns.get(output)
        if fn is None:
            model = self._inference_network() if output == "softmax" else self._embedding(output)
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                spec = tf.TensorSpec((None, *self.input_shape_, 1), tf.float32)
                compiled = tf.function(
                    lambda x: model(x, training=False), input_signature=[spec]
                ).get_concrete_function()

                def fn(batch):
                    return compiled(tf.convert_to_tensor(batch, tf.float32)).numpy()
            else:  # other Keras backends: Keras's own compiled predict step
                fn = model.predict_on_batch
            # Mutated in place (not reassigned) so that predicting leaves __dict__ unchanged.
            fns[output] = fn
        return fn

    def _forward(self, X, output):
        """Run the network on X in batches; ``output`` is "softmax", "embedding" or "spatial"."""
        check_is_fitted(self, "network_")
        images = self._validate_X(X, reset=False)
        n = len(images)
        if n == 0:
            model = self.network_ if output == "softmax" else self._embedding(output)
            return np.zeros((0, model.output_shape[-1]), np.float32)
        fn = self._predict_function(output)
        batch = max(1, int(self.predict_batch_size))
        if n <= batch:
            return np.asarray(fn(images))
        out = None  # filled batch by batch: no list of parts to concatenate (half the peak memory)
        for i in range(0, n, batch):
            part = np.asarray(fn(images[i : i + batch]))
            if out is None:
                out = np.empty((n, *part.shape[1:]), part.dtype)
            out[i : i + len(part)] = part
        return out

    # ----------------------------------------------------------------- pickling
    def __sklearn_is_fitted__(self):
        # Some learned attributes are set before training starts: fitted means a trained network.
        return hasattr(self, "network_")

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_predict_fns", None)  # compiled functions are rebuilt on first use
        network = state.pop("network_", None)
        if network is not None:
            state["_network_config"] = network.to_json()
            state["_network_weights"] = network.get_weights()
        return state

    def __setstate__(self, state):
        config = state.pop("_network_config", None)
        weights = state.pop("_network_weights", None)
        self.__dict__.update(state)
        self._predict_fns = {}
        if config is not None:
            network = keras.models.model_from_json(config)
            network.set_weights(weights)
            self.network_ = network

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # multithreaded float reductions on CPU
        return tags
