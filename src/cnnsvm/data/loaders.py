"""Load any dataset from a spec string shared by the CLI and the experiments.

Grammar::

    spec    := kind [":" path] ["?" option ("&" option)*]
    kind    := "digits" | "mnist" | "idx" | "folder" | "csv" | "npz"
    option  := key "=" value          (values are percent-decoded)
    key     := "name" | "ink" | "labels"

``digits`` takes no path; every other kind needs one (``~`` is expanded,
relative paths are taken from the working directory). Options:

- ``name``: the dataset's name (overrides the loader's);
- ``ink``: ``light``, ``dark`` or ``auto`` -- declares the strokes' polarity
  (``auto`` keeps the loader's choice: known for digits/mnist/idx/csv,
  guessed from the mean image for folder and npz);
- ``labels``: ``folder`` only, a CSV mapping folder names to class names.

Examples: ``digits``, ``mnist:data/mnist.npz``,
``folder:~/nhcd/vowels?labels=~/nhcd/labels.csv&name=vowels``,
``npz:../shared/datasets/nhcd_numerals.npz?ink=dark``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.parse import unquote

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.data.folder import load_image_folder
from cnnsvm.data.kaggle_csv import load_kaggle_csv
from cnnsvm.data.mnist import load_idx_dir, load_mnist_npz
from cnnsvm.data.npz import load_npz
from cnnsvm.data.sklearn_digits import load_digits_dataset
from cnnsvm.data.splits import train_test_split_dataset
from cnnsvm.exceptions import DataError
from cnnsvm.ink import INK_CHOICES

#: Kinds of source and what their path names.
KINDS = {
    "digits": None,
    "mnist": "a keras-style mnist.npz file",
    "idx": "a folder with the four MNIST IDX files",
    "folder": "a folder with one sub-folder of images per class",
    "csv": "a Kaggle Digit Recognizer train.csv",
    "npz": "an .npz file with x, y (or x_train, y_train, x_test, y_test)",
}

#: Options each kind accepts.
OPTIONS = {kind: ("name", "ink") for kind in KINDS}
OPTIONS["folder"] = ("name", "ink", "labels")


def parse_spec(spec):
    """Split a dataset spec string into its kind, path and options.

    Parameters
    ----------
    spec : str
        See the module docstring for the grammar.

    Returns
    -------
    kind : str
        One of :data:`KINDS`.
    path : Path or None
        The path with ``~`` expanded; ``None`` for ``digits``.
    options : dict of str
        Keys among ``name``, ``ink``, ``labels`` (a ``~``-expanded path string).

    Raises
    ------
    DataError
        For an empty spec, an unknown kind or option, a missing or
        superfluous path, or a bad option value.
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise DataError(f"a dataset spec must be a string like 'digits' or 'npz:PATH'; got {type(spec).__name__}")
    spec = str(spec).strip()
    if not spec:
        raise DataError(f"the dataset spec is empty; use one of {_kinds_usage()}")
    base, has_query, query = spec.partition("?")
    kind, has_path, path = base.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise DataError(f"unknown dataset kind {kind!r} in {spec!r}; valid kinds: {_kinds_usage()}")
    path = path.strip()
    if KINDS[kind] is None:
        if path:
            raise DataError(f"{kind!r} takes no path (got {spec!r}); write just '{kind}'")
        resolved = None
    else:
        if not path:
            raise DataError(f"{kind!r} needs a path: write '{kind}:PATH' where PATH is {KINDS[kind]}")
        resolved = Path(os.path.expanduser(path))
    options = _parse_options(query, kind, spec) if has_query else {}
    return kind, resolved, options


def _kinds_usage():
    return ", ".join(kind if KINDS[kind] is None else f"{kind}:PATH" for kind in KINDS)


def _parse_options(query, kind, spec):
    valid = OPTIONS[kind]
    options = {}
    for item in query.split("&"):
        if not item:
            continue
        key, has_eq, value = item.partition("=")
        key, value = unquote(key).strip().lower(), unquote(value).strip()
        if key not in valid:
            raise DataError(f"unknown option {key!r} for {kind!r} in {spec!r}; valid options: {', '.join(valid)}")
        if not has_eq or not value:
            raise DataError(f"option {key!r} in {spec!r} needs a value: {key}=VALUE")
        if key in options:
            raise DataError(f"option {key!r} is given twice in {spec!r}; give it once")
        if key == "ink" and value.lower() not in INK_CHOICES:
            raise DataError(f"ink must be one of {', '.join(INK_CHOICES)} in {spec!r}; got {value!r}")
        if key == "ink":
            value = value.lower()
        if key == "labels":
            value = os.path.expanduser(value)
        options[key] = value
    return options


def load_dataset(spec):
    """Load the dataset a spec names, as stored.

    Parameters
    ----------
    spec : str or ImageDataset or DatasetSplit
        A spec string (see the module docstring); loaded datasets pass through.

    Returns
    -------
    ImageDataset or DatasetSplit
        A :class:`DatasetSplit` for sources with an official split (``mnist``,
        ``idx``, split ``npz`` files), else an :class:`ImageDataset`.

    Raises
    ------
    DataError
        If the spec is invalid or the data unusable.
    """
    if isinstance(spec, (ImageDataset, DatasetSplit)):
        return spec
    kind, path, options = parse_spec(spec)
    name, ink = options.get("name"), options.get("ink", "auto")
    if kind == "digits":
        data = load_digits_dataset()
    elif kind == "mnist":
        data = load_mnist_npz(path)
    elif kind == "idx":
        data = load_idx_dir(path)
    elif kind == "csv":
        data = load_kaggle_csv(path)
    elif kind == "folder":
        data = load_image_folder(path, labels_csv=options.get("labels"), name=name, ink=ink)
    else:  # npz
        data = load_npz(path, name=name, ink=ink)
    return _override(data, name=name, ink=None if ink == "auto" else ink)


def load_split(spec, test_size=0.2, random_state=0):
    """Load a dataset as a train/test split.

    Parameters
    ----------
    spec : str or ImageDataset or DatasetSplit
        A spec string, or an already loaded set.
    test_size : float or int, default=0.2
        Used only when the source has no official split.
    random_state : int, default=0
        Seed of that split.

    Returns
    -------
    DatasetSplit
        The official split where the source has one, else a stratified
        :func:`~cnnsvm.data.splits.train_test_split_dataset`.
    """
    data = load_dataset(spec)
    if isinstance(data, DatasetSplit):
        return data
    return train_test_split_dataset(data, test_size=test_size, random_state=random_state)


def _override(data, name=None, ink=None):
    """Return ``data`` with its name and/or ink replaced (both parts of a split)."""
    changes = {k: v for k, v in (("name", name), ("ink", ink)) if v is not None}
    if not changes:
        return data
    if isinstance(data, DatasetSplit):
        return DatasetSplit(
            train=_override(data.train, name, ink), test=_override(data.test, name, ink), official=data.official
        )
    return dataclasses.replace(data, extra=dict(data.extra), **changes)
