"""Labelled images stored as numpy ``.npz`` archives.

Two layouts are read:

- ``x``, ``y``: one set of images and labels, returned as an
  :class:`~cnnsvm.data.ImageDataset`. Optional class-name arrays:
  ``class_names``; or ``class_labels`` and ``class_devanagari`` (the NHCD
  files), giving names like ``"क (ka)"``; or ``class_labels`` alone.
- ``x_train``, ``y_train``, ``x_test``, ``y_test``: an official split (the
  keras ``mnist.npz`` layout), returned as a :class:`~cnnsvm.data.DatasetSplit`.

Images may be (n, h, w), (n, h, w, 1) or flattened square (n, h*w), under the
pixel contract of :mod:`cnnsvm.data.pixels`: integers in 0..255 or floats in
[0, 1] (a float array with values above 1 is refused, never guessed).
Labels that are not already class indices 0..K-1 (arbitrary integers, strings)
are mapped to indices in sorted order, the original values becoming the class names.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.data.pixels import to_uint8
from cnnsvm.data.preprocessing import as_image_batch, guess_ink
from cnnsvm.exceptions import DataError

SINGLE_KEYS = ("x", "y")
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
INK_CHOICES = ("auto", "light", "dark")


def load_npz(path, name=None, ink="auto"):
    """Load a labelled image set from an ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
        The archive; see the module docstring for the keys it must hold.
    name : str, optional
        Name of the dataset; by default the file's stem (``nhcd_numerals``).
    ink : {"auto", "light", "dark"}, default="auto"
        Polarity of the strokes; ``"auto"`` guesses it from the border of the
        mean (training) image with :func:`~cnnsvm.data.guess_ink`.

    Returns
    -------
    ImageDataset or DatasetSplit
        A :class:`DatasetSplit` with ``official=True`` for the ``x_train`` ... layout.

    Raises
    ------
    DataError
        If the file is missing or not an ``.npz`` archive, keys are missing,
        image and label counts differ, or values are NaN or out of range.
    """
    path = Path(path).expanduser()
    check_ink_option(ink, where=str(path))
    arrays = read_npz(path)
    name = name or path.stem
    class_names = _class_names_from(arrays, path)
    if all(k in arrays for k in SPLIT_KEYS):
        x_train = to_uint8_images(arrays["x_train"], f"{path}: x_train")
        x_test = to_uint8_images(arrays["x_test"], f"{path}: x_test")
        y_train = check_label_array(arrays["y_train"], len(x_train), f"{path}: y_train", "x_train")
        y_test = check_label_array(arrays["y_test"], len(x_test), f"{path}: y_test", "x_test")
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DataError(
                f"{path}: x_train images are {x_train.shape[1]}x{x_train.shape[2]} but x_test images are "
                f"{x_test.shape[1]}x{x_test.shape[2]}; both parts of a split need one image size"
            )
        (y_train, y_test), class_names = labels_to_indices([y_train, y_test], class_names, str(path))
        ink = resolve_ink(ink, x_train)
        common = dict(class_names=class_names, name=name, ink=ink, source=str(path))
        return DatasetSplit(
            train=ImageDataset(images=x_train, labels=y_train, **common),
            test=ImageDataset(images=x_test, labels=y_test, **common),
            official=True,
        )
    if all(k in arrays for k in SINGLE_KEYS):
        x = to_uint8_images(arrays["x"], f"{path}: x")
        y = check_label_array(arrays["y"], len(x), f"{path}: y", "x")
        (y,), class_names = labels_to_indices([y], class_names, str(path))
        extra = {}
        files = arrays.get("files")
        if files is not None and files.ndim == 1 and len(files) == len(x):
            extra["files"] = [str(f) for f in files]
        return ImageDataset(
            images=x,
            labels=y,
            class_names=class_names,
            name=name,
            ink=resolve_ink(ink, x),
            source=str(path),
            extra=extra,
        )
    split_found = [k for k in SPLIT_KEYS if k in arrays]
    if split_found:
        missing = [k for k in SPLIT_KEYS if k not in arrays]
        raise DataError(
            f"{path} has {', '.join(split_found)} but lacks {', '.join(missing)}; "
            f"a split archive needs all of {', '.join(SPLIT_KEYS)}"
        )
    raise DataError(
        f"{path} holds the arrays {sorted(arrays) or 'none'}, but a dataset archive needs either "
        f"'x' and 'y', or {', '.join(repr(k) for k in SPLIT_KEYS)}; save it with those names"
    )


def check_ink_option(ink, where):
    """Raise :class:`DataError` unless ``ink`` is ``"auto"``, ``"light"`` or ``"dark"``."""
    if ink not in INK_CHOICES:
        raise DataError(f"{where}: ink must be one of {', '.join(INK_CHOICES)}; got {ink!r}")


def resolve_ink(ink, images):
    """Return ``ink``, or guess it from the mean image when it is ``"auto"``."""
    if ink != "auto":
        return ink
    return guess_ink(np.asarray(images, dtype=np.float64).mean(axis=0))


def read_npz(path):
    """Read every array of an ``.npz`` archive into a dict (no pickles).

    Raises
    ------
    DataError
        If the file is missing, not an ``.npz`` archive, corrupt, or holds
        pickled objects.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path of the .npz file")
    if not path.is_file():
        raise DataError(f"{path} is not a file; give the path of an .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path} is not a readable .npz archive ({exc}); save the arrays with numpy.savez"
        ) from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path} holds a single array (.npy), not an .npz archive of named arrays; "
            "save it with numpy.savez(path, x=images, y=labels)"
        )
    arrays = {}
    with loaded:
        for key in loaded.files:
            try:
                arrays[key] = loaded[key]
            except ValueError as exc:
                raise DataError(
                    f"{path}: array {key!r} holds Python objects, which are not loaded for safety; "
                    "store numbers or strings only"
                ) from exc
            except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
                raise DataError(f"{path}: array {key!r} is corrupt ({exc}); re-create the file") from exc
    return arrays


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
            f"{where}: {len(y)} labels for {n_images} images in {images_key}; "
            "every image needs exactly one label"
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


def _class_names_from(arrays, path):
    """Class names stored in the archive, or ``None``."""

    def names(key):
        values = np.asarray(arrays[key])
        if values.ndim != 1:
            raise DataError(f"{path}: {key} must be a one-dimensional array of names; got shape {values.shape}")
        return [str(v) for v in values]

    if "class_names" in arrays:
        return names("class_names")
    if "class_labels" in arrays and "class_devanagari" in arrays:
        labels, devanagari = names("class_labels"), names("class_devanagari")
        if len(labels) != len(devanagari):
            raise DataError(
                f"{path}: class_labels has {len(labels)} entries but class_devanagari has "
                f"{len(devanagari)}; they must name the same classes"
            )
        return [f"{d} ({lab})" for d, lab in zip(devanagari, labels)]
    if "class_labels" in arrays:
        return names("class_labels")
    return None
