"""Plain-Keras reference for the cnnsvm benchmarks: the same CNN, written out by hand.

No cnnsvm import on purpose. This is the network of cnnsvm's ``"default"``
architecture preset, layer by layer with ``keras.layers``, trained the way
cnnsvm trains it:

- input 28x28x1, pixels scaled to [0, 1];
- in front of the network, active only in training: RandomRotation (+-10
  degrees), RandomZoom (+-10 %), RandomTranslation (+-10 %), RandomShear (0.15),
  empty pixels filled with 0;
- three blocks of two 3x3 convolutions (32, 64, 128 filters; no bias, batch
  norm with momentum 0.9, ReLU), 2x2 max pooling, dropout 0.1; then dense 256
  (no bias, batch norm, ReLU) named "embedding", dropout 0.3, softmax;
- Adam (learning rate 1e-3), sparse categorical cross-entropy, batch 128,
  10 % of the training images held out for validation, early stopping and
  learning-rate halving on the validation loss.

``benchmarks/perf.py`` imports :func:`train` and runs it beside cnnsvm on the
same images; it also runs on its own::

    python benchmarks/reference_keras.py --data ../shared/datasets/mnist.npz --n 10000 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import layers


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, training and validation included."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def build_network(input_shape=(28, 28, 1), n_classes=10):
    """The classification network (no augmentation); its layer "embedding" holds the features."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for filters in (32, 64, 128):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(pool_size=(2, 2), padding="same")(x)
        x = layers.Dropout(0.1)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)
    x = layers.Identity(name="embedding")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="softmax")(x)
    return keras.Model(inputs, outputs)


def build_augmentation(seed=0):
    """The random transforms applied to training batches only."""
    fill = dict(fill_mode="constant", fill_value=0.0)
    return keras.Sequential(
        [
            layers.RandomRotation(10.0 / 360.0, seed=seed, **fill),
            layers.RandomZoom(0.10, seed=seed, **fill),
            layers.RandomTranslation(0.10, 0.10, seed=seed, **fill),
            layers.RandomShear(0.15, 0.15, seed=seed, **fill),
        ]
    )


def scale(images):
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def train(images, labels, *, epochs=12, batch_size=128, validation_fraction=0.1, patience=3, seed=0, callbacks=()):
    """Train the network on uint8 images; returns a dict with the model and per-epoch times.

    ``callbacks`` run after the epoch timer (so work they do at an epoch's end,
    such as scoring a test set, is not counted in ``epoch_times``).

    Keys: ``network`` (softmax output), ``embedding`` (model to the embedding layer),
    ``epoch_times`` (seconds per epoch), ``history``, ``fit_seconds``.
    """
    keras.utils.set_random_seed(seed)
    x, y = scale(images), np.asarray(labels).astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(validation_fraction * len(x)))
    val, tr = order[:n_val], order[n_val:]
    network = build_network(x.shape[1:], int(y.max()) + 1)
    model = keras.Sequential([build_augmentation(seed), network])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    callbacks = [
        timer,
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, patience // 2), min_lr=1e-5),
        *callbacks,
    ]
    start = time.perf_counter()
    history = model.fit(
        x[tr],
        y[tr],
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(x[val], y[val]),
        callbacks=callbacks,
        shuffle=True,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - start
    embedding = keras.Model(network.input, network.get_layer("embedding").output)
    return {
        "network": network,
        "embedding": embedding,
        "epoch_times": timer.times,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "fit_seconds": fit_seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/mnist.npz")
    parser.add_argument("--n", type=int, default=10000, help="training images (the first n)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    data = np.load(args.data)
    result = train(
        data["x_train"][: args.n],
        data["y_train"][: args.n],
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.epochs,
    )
    times = result["epoch_times"]
    print("seconds per epoch:", " ".join(f"{t:.2f}" for t in times))
    proba = result["network"].predict(scale(data["x_test"]), batch_size=1024, verbose=0)
    print(f"test accuracy {100 * (proba.argmax(1) == data['y_test']).mean():.2f} %")


if __name__ == "__main__":
    main()
