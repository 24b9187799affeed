"""CNN architectures: named presets and a builder from hyperparameters.

Every network ends in a dense layer named ``"embedding"`` (the features the SVMs
read) followed by a softmax layer named ``"softmax"``.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnsvm.exceptions import ConfigError

#: Hyperparameters of each preset. ``filters`` lists the conv blocks, each of
#: ``convs_per_block`` convolutions followed by pooling.
PRESETS = {
    # Three VGG-style blocks (32-64-128 filters, two 3x3 convolutions each) with batch
    # norm and dropout, then a 256-unit embedding.
    "default": dict(
        filters=(32, 64, 128),
        convs_per_block=2,
        kernel_size=3,
        dense_units=256,
        dropout=0.3,
        conv_dropout=0.1,
        batch_norm=True,
        activation="relu",
        pooling="max",
        optimizer="adam",
        learning_rate=1e-3,
    ),
    # The Devanagari article's network: conv32-conv64-maxpool-dropout .25-dense256-dropout .8, RMSprop.
    "article": dict(
        filters=(32, 64),
        convs_per_block=-1,  # all convolutions in one block: conv32, conv64, then one pooling
        kernel_size=3,
        dense_units=256,
        dropout=0.8,
        conv_dropout=0.25,
        batch_norm=False,
        activation="relu",
        pooling="max",
        optimizer="rmsprop",
        learning_rate=1e-3,
    ),
    # A tiny network for tests and quick smoke runs.
    "small": dict(
        filters=(8, 16),
        convs_per_block=1,
        kernel_size=3,
        dense_units=32,
        dropout=0.2,
        conv_dropout=0.0,
        batch_norm=True,
        activation="relu",
        pooling="max",
        optimizer="adam",
        learning_rate=3e-3,
    ),
}

ARCHITECTURE_PARAMS = tuple(PRESETS["default"])
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "swish")
POOLINGS = ("max", "avg")
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adamw", "nadam")


def resolve_architecture(architecture="default", **overrides):
    """Return the hyperparameters of a preset with the non-None ``overrides`` applied."""
    if architecture not in PRESETS:
        raise ConfigError(f"unknown architecture {architecture!r}; choose one of {sorted(PRESETS)}")
    params = dict(PRESETS[architecture])
    unknown = set(overrides) - set(params)
    if unknown:
        raise ConfigError(f"unknown architecture parameters {sorted(unknown)}; valid: {sorted(params)}")
    params.update({k: v for k, v in overrides.items() if v is not None})
    params["filters"] = tuple(int(f) for f in params["filters"])
    _validate(params)
    return params


def _validate(p):
    if not p["filters"] or min(p["filters"]) < 1:
        raise ConfigError(f"filters must be a non-empty list of positive integers; got {p['filters']}")
    if p["activation"] not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {ACTIVATIONS}; got {p['activation']!r}")
    if p["pooling"] not in POOLINGS:
        raise ConfigError(f"pooling must be one of {POOLINGS}; got {p['pooling']!r}")
    if p["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {OPTIMIZERS}; got {p['optimizer']!r}")
    for key in ("dropout", "conv_dropout"):
        if not 0.0 <= p[key] < 1.0:
            raise ConfigError(f"{key} must lie in [0, 1); got {p[key]}")
    if int(p["kernel_size"]) < 1 or int(p["dense_units"]) < 1:
        raise ConfigError("kernel_size and dense_units must be positive integers")


def _activation(name, dtype):
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.1, dtype=dtype)
    return layers.Activation(name, dtype=dtype)


def _pool(kind, height, width, dtype):
    # Pool only along axes longer than 1 so that 1-row "images" (flat feature vectors) work.
    size = (2 if height > 1 else 1, 2 if width > 1 else 1)
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    return cls(pool_size=size, padding="same", dtype=dtype)


def build_network(input_shape, n_classes, params, dtype="float32"):
    """Build the classification network.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width)`` of the single-channel input.
    n_classes : int
        Width of the softmax layer.
    params : dict
        Output of :func:`resolve_architecture`.
    dtype : str, default="float32"
        Keras dtype policy of the hidden layers (``"mixed_bfloat16"``, ...; see
        :mod:`cnnsvm.features.precision`). The embedding and the softmax are
        float32 whatever the policy.

    Returns
    -------
    keras.Model
        Input ``(height, width, 1)``; layer ``"embedding"`` holds the features.
    """
    height, width = input_shape
    inputs = keras.Input(shape=(height, width, 1), name="image")
    x = inputs
    k = int(params["kernel_size"])
    per_block = params["convs_per_block"]
    blocks = [params["filters"]] if per_block == -1 else [(f,) * per_block for f in params["filters"]]
    for block in blocks:
        for filters in block:
            x = layers.Conv2D(filters, k, padding="same", use_bias=not params["batch_norm"], dtype=dtype)(x)
            if params["batch_norm"]:
                x = layers.BatchNormalization(momentum=0.9, dtype=dtype)(x)
            x = _activation(params["activation"], dtype)(x)
        x = _pool(params["pooling"], x.shape[1], x.shape[2], dtype)(x)
        if params["conv_dropout"]:
            x = layers.Dropout(params["conv_dropout"], dtype=dtype)(x)
    x = layers.Flatten(dtype=dtype)(x)
    x = layers.Dense(int(params["dense_units"]), use_bias=not params["batch_norm"], dtype=dtype)(x)
    if params["batch_norm"]:
        x = layers.BatchNormalization(momentum=0.9, dtype=dtype)(x)
    x = _activation(params["activation"], dtype)(x)
    x = layers.Identity(name="embedding", dtype="float32")(x)  # float32 features for the SVM
    if params["dropout"]:
        x = layers.Dropout(params["dropout"])(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnnsvm_cnn")


def build_optimizer(params):
    """Return a fresh Keras optimizer for the architecture's optimizer and learning rate."""
    lr = float(params["learning_rate"])
    return {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }[params["optimizer"]](learning_rate=lr)
