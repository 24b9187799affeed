"""Checks shared by the dataset loaders: ink option, image and label arrays, label-to-index mapping.

Used by :mod:`cnnsvm.data.npz`, :mod:`cnnsvm.data.mnist`, :mod:`cnnsvm.data.folder` and
:mod:`cnnsvm.data.loaders`; every failure is a :class:`~cnnsvm.exceptions.DataError` that
names the file or array and says what to do.
"""

from __future__ import annotations

import numpy as np

from cnnsvm.data.pixels import to_uint8
from cnnsvm.data.preprocessing import as_image_batch, guess_ink
from cnnsvm.exceptions import DataError
from cnnsvm.ink import INK_CHOICES


def check_ink_option(ink, where):
    """Raise :class:`DataError` unless ``ink`` is one of :data:`cnnsvm.ink.INK_CHOICES`."""
    if ink not in INK_CHOICES:
        raise DataError(f"{where}: ink must be one of {', '.join(INK_CHOICES)}; got {ink!r}")


def resolve_ink(ink, images):
    """Return ``ink``, or guess it from the mean image when it is ``"auto"``."""
    if ink != "auto":
        return ink
    return guess_ink(np.asarray(images, dtype=np.float64).mean(axis=0))


def to_uint8_images(x, where):
    """Validate an image array and return it as uint8 (n, h, w).

    Parameters
    ----------
    x : ndarray
        (n, h, w), (n, h, w, 1) or flattened square (n, h*w) images under the
        pixel contract of :mod:`cnnsvm.data.pixels`: integers 0..255 or floats
        in [0, 1] (scaled by 255); floats above 1 are refused.
    where : str
        Names the array in error messages.
    """
    x = np.asarray(x)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{where}: images must be numeric pixel values, got dtype {x.dtype}")
    try:
        x = as_image_batch(x, name=where)
    except DataError as exc:
        raise DataError(str(exc)) from exc
    if len(x) == 0:
        raise DataError(f"{where}: there are no images (zero samples)")
    if min(x.shape[1:]) < 1:
        raise DataError(f"{where}: images have zero height or width (shape {x.shape})")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{where}: images must hold real pixel values, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1)
        if bad.any():
            raise DataError(
                f"{where}: {int(bad.sum())} image(s) contain NaN or infinite values (first: sample "
                f"{int(np.flatnonzero(bad)[0])}); clean or drop those samples"
            )
    return to_uint8(x, name=where)


def check_label_array(y, n_images, where, images_key):
    """Validate a label array: one-dimensional, no NaN, one label per image."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{where}: labels must be one-dimensional (one class per image); got shape {y.shape}")
    if len(y) != n_images:
        raise DataError(
            f"{where}: {len(y)} labels for {n_images} images in {images_key}; every image needs exactly one label"
        )
    if np.issubdtype(y.dtype, np.floating):
        nan = np.flatnonzero(~np.isfinite(y))
        if len(nan):
            raise DataError(
                f"{where}: {len(nan)} label(s) are NaN or infinite (first: sample {int(nan[0])}); "
                "fix or drop those samples"
            )
        if not np.all(y == np.round(y)):
            raise DataError(f"{where}: labels must be whole numbers or strings, got fractional values")
        y = y.astype(np.int64)
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype.kind in "UbS"):
        raise DataError(f"{where}: labels must be integers or strings, got dtype {y.dtype}")
    return y


def labels_to_indices(label_arrays, class_names, where):
    """Turn label arrays into class indices sharing one list of class names.

    Parameters
    ----------
    label_arrays : list of ndarray
        Checked labels (see :func:`check_label_array`), e.g. train and test.
    class_names : list of str or None
        Names stored with the data. When given, the labels must be indices
        into it.
    where : str
        Names the file in error messages.

    Returns
    -------
    indices : list of ndarray of int64
    class_names : list of str
        The given names; ``"0"`` .. ``"K-1"`` when the labels are already the
        indices 0..K-1; else the sorted distinct label values.
    """
    if class_names is not None:
        k = len(class_names)
        out = []
        for y in label_arrays:
            if not np.issubdtype(y.dtype, np.integer) or (len(y) and (y.min() < 0 or y.max() >= k)):
                raise DataError(
                    f"{where}: the file names {k} classes, so labels must be indices 0..{k - 1}; "
                    f"got values {_value_range(y)}; fix the labels or the class name arrays"
                )
            out.append(y.astype(np.int64))
        return out, list(class_names)
    combined = np.concatenate(label_arrays)
    values = np.unique(combined)
    if np.issubdtype(combined.dtype, np.integer) and np.array_equal(values, np.arange(len(values))):
        return [y.astype(np.int64) for y in label_arrays], [str(v) for v in values]
    return (
        [np.searchsorted(values, y).astype(np.int64) for y in label_arrays],
        [str(v) for v in values],
    )


def _value_range(y):
    if np.issubdtype(y.dtype, np.number) and len(y):
        return f"{y.min()}..{y.max()}"
    return f"of dtype {y.dtype}"
