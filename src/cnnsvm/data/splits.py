"""Stratified, seeded train/test and train/validation splits of an :class:`ImageDataset`."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import train_test_split

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.exceptions import DataError


def train_test_split_dataset(ds, test_size=0.2, random_state=0):
    """Split a dataset into stratified train and test sets.

    Parameters
    ----------
    ds : ImageDataset
        The labelled set; every class with samples needs at least two.
    test_size : float or int, default=0.2
        Fraction (0 < test_size < 1) or number of samples for the test set.
    random_state : int, default=0
        Seed; the same seed gives the same split.

    Returns
    -------
    DatasetSplit
        ``official=False``; both sets keep ``ds``'s class names and name.

    Raises
    ------
    DataError
        If a class has a single sample, or ``test_size`` leaves too few
        samples to hold every class in both sets.
    """
    train_idx, test_idx = _stratified_indices(ds, test_size, random_state, "test_size")
    return DatasetSplit(train=ds.subset(train_idx), test=ds.subset(test_idx), official=False)


def validation_split(ds, fraction=0.1, random_state=0):
    """Hold out a stratified validation set.

    Parameters
    ----------
    ds : ImageDataset
        Usually the training part of a :class:`DatasetSplit`.
    fraction : float or int, default=0.1
        Fraction (or number) of samples held out.
    random_state : int, default=0
        Seed.

    Returns
    -------
    train_ds, val_ds : ImageDataset
        Both keep ``ds``'s class names and name.

    Raises
    ------
    DataError
        As :func:`train_test_split_dataset`.
    """
    train_idx, val_idx = _stratified_indices(ds, fraction, random_state, "fraction")
    return ds.subset(train_idx), ds.subset(val_idx)


def _stratified_indices(ds, size, random_state, param):
    if not isinstance(ds, ImageDataset):
        raise DataError(f"expected an ImageDataset to split, got {type(ds).__name__}")
    _check_size(size, len(ds), param)
    counts = ds.class_counts()
    single = [ds.class_names[c] for c in np.flatnonzero(counts == 1)]
    if single:
        shown = ", ".join(repr(c) for c in single[:10]) + (" ..." if len(single) > 10 else "")
        raise DataError(
            f"{ds.name}: class(es) {shown} have a single sample, too few for a stratified split; "
            "add samples of those classes or drop them"
        )
    try:
        return train_test_split(np.arange(len(ds)), test_size=size, random_state=random_state, stratify=ds.labels)
    except ValueError as exc:
        raise DataError(
            f"{ds.name}: cannot split {len(ds)} samples of {int((counts > 0).sum())} classes with "
            f"{param}={size!r} ({exc}); choose a {param} that leaves at least one sample per class "
            "on each side"
        ) from exc


def _check_size(size, n_samples, param):
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise DataError(f"{param} must be a fraction between 0 and 1 or a number of samples; got {size!r}")
    if isinstance(size, numbers.Integral):
        if not 1 <= size < n_samples:
            raise DataError(f"{param}={size} must lie between 1 and {n_samples - 1} samples")
    elif not 0.0 < size < 1.0:
        raise DataError(f"{param} must be a fraction strictly between 0 and 1; got {size}")
