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
from cnnsvm.data.validation import (
    check_ink_option,
    check_label_array,
    labels_to_indices,
    resolve_ink,
    to_uint8_images,
)
from cnnsvm.exceptions import DataError

SINGLE_KEYS = ("x", "y")
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


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
        raise DataError(f"{path} is not a readable .npz archive ({exc}); save the arrays with numpy.savez") from exc
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
        return [f"{d} ({lab})" for d, lab in zip(devanagari, labels, strict=True)]
    if "class_labels" in arrays:
        return names("class_labels")
    return None
