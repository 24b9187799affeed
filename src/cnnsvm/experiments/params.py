"""Checks of the parameter values an experiment file may set, with one-line errors."""

from __future__ import annotations

import numbers

from cnnsvm.classifiers.svm import CALIBRATIONS
from cnnsvm.exceptions import ConfigError
from cnnsvm.features.architectures import ACTIVATIONS, OPTIMIZERS, POOLINGS, PRESETS
from cnnsvm.features.cnn_base import SCHEDULES
from cnnsvm.features.precision import PRECISIONS
from cnnsvm.features.spatial import FEATURES
from cnnsvm.features.views import TRAIN_VIEWS

SVC_KERNELS = ("rbf", "linear", "poly", "sigmoid")
SVM_SOLVERS = ("exact", "approx", "auto")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def int_at_least(low):
    """Checker: an integer >= ``low``."""

    def check(value):
        return None if _is_int(value) and value >= low else f"an integer >= {low}"

    return check


def number_in(low, high, *, low_open=False, high_open=True):
    """Checker: a number in the interval between ``low`` and ``high``."""

    def check(value):
        if not _is_number(value):
            return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high:
            return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        return None

    return check


def positive_number(value):
    """Checker: a number > 0."""
    return None if _is_number(value) and value > 0 else "a number > 0"


def one_of(choices):
    """Checker: one of ``choices``."""

    def check(value):
        return None if isinstance(value, str) and value in choices else f"one of {', '.join(map(str, choices))}"

    return check


def boolean(value):
    """Checker: true or false."""
    return None if isinstance(value, bool) else "true or false"


def filters(value):
    """Checker: a non-empty list of positive integers."""
    ok = isinstance(value, (list, tuple)) and value and all(_is_int(v) and v > 0 for v in value)
    return None if ok else "a non-empty list of positive integers, e.g. [32, 64]"


def convs_per_block(value):
    """Checker: an integer >= 1, or -1 (all convolutions in one block)."""
    return None if _is_int(value) and (value >= 1 or value == -1) else "an integer >= 1, or -1 for a single block"


def gamma(value):
    """Checker: "scale", "auto" or a number > 0."""
    if value in ("scale", "auto") or (_is_number(value) and value > 0):
        return None
    return '"scale", "auto" or a number > 0'


def n_components(value):
    """Checker: an integer >= 1 or a variance share in (0, 1)."""
    if (_is_int(value) and value >= 1) or (_is_number(value) and not _is_int(value) and 0 < value < 1):
        return None
    return "an integer >= 1, or a share of variance in (0, 1)"


def softmax_weight(value):
    """Checker: "auto" or a number in [0, 1]."""
    if value == "auto" or (_is_number(value) and 0 <= value <= 1):
        return None
    return '"auto" or a number in [0, 1]'


#: Parameters of a CNN (generic extractor or one trained from scratch).
CNN_PARAMS = {
    "architecture": one_of(tuple(PRESETS)),
    "filters": filters,
    "convs_per_block": convs_per_block,
    "kernel_size": int_at_least(1),
    "dense_units": int_at_least(1),
    "dropout": number_in(0, 1),
    "conv_dropout": number_in(0, 1),
    "batch_norm": boolean,
    "activation": one_of(ACTIVATIONS),
    "pooling": one_of(POOLINGS),
    "optimizer": one_of(OPTIMIZERS),
    "learning_rate": positive_number,
    "epochs": int_at_least(1),
    "batch_size": int_at_least(1),
    "augmentation": number_in(0, 5, high_open=False),
    "elastic": number_in(0, 5, high_open=False),
    "validation_fraction": number_in(0, 1),
    "patience": int_at_least(0),
    "schedule": one_of(SCHEDULES),
    "precision": one_of(PRECISIONS),
    "max_minutes": positive_number,
    "predict_batch_size": int_at_least(1),
}

#: Training settings shared by every CNN (the ``[training]`` table).
TRAINING_PARAMS = {
    k: CNN_PARAMS[k]
    for k in (
        "epochs",
        "batch_size",
        "patience",
        "augmentation",
        "elastic",
        "validation_fraction",
        "schedule",
        "precision",
        "max_minutes",
        "predict_batch_size",
    )
}

#: Parameters of the SVM read on CNN features (``[svc]``, hybrid methods).
SVC_PARAMS = {
    "C": positive_number,
    "gamma": gamma,
    "kernel": one_of(SVC_KERNELS),
    "solver": one_of(SVM_SOLVERS),
    "train_views": one_of(TRAIN_VIEWS),
    "calibration": one_of(CALIBRATIONS),
    "softmax_weight": softmax_weight,
    "features": one_of(FEATURES),
}


def hidden_layers(value):
    """Checker: a non-empty list of positive integers."""
    ok = isinstance(value, (list, tuple)) and value and all(_is_int(v) and v > 0 for v in value)
    return None if ok else "a non-empty list of positive layer widths, e.g. [512, 256]"


#: Parameters of the fully connected baseline.
MLP_PARAMS = {"hidden_layer_sizes": hidden_layers, "alpha": positive_number, "max_iter": int_at_least(1)}

#: Parameters of the SVC+PCA baseline.
PCA_SVC_PARAMS = {
    "n_components": n_components,
    "C": positive_number,
    "gamma": gamma,
    "calibration": one_of(CALIBRATIONS),
}


def check_table(table, checkers, where, *, what="a table"):
    """Check that ``table`` is a dict whose keys are known and whose values pass their checker.

    Parameters
    ----------
    table : object
        The value read from the file.
    checkers : dict of str to callable
        ``checker(value)`` returns ``None`` or what the value should be.
    where : str
        The table's name in messages (``"[generic]"``).

    Returns
    -------
    dict
        ``table`` (a new dict).

    Raises
    ------
    ConfigError
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be {what} of settings; got {type(table).__name__} {table!r}")
    for key, value in table.items():
        if key not in checkers:
            valid = ", ".join(sorted(checkers)) or "none"
            raise ConfigError(f"unknown setting {key!r} in {where}; valid settings: {valid}")
        problem = checkers[key](value)
        if problem:
            raise ConfigError(f"{where} {key} must be {problem}; got {value!r}")
    return dict(table)
