"""The Kaggle "Digit Recognizer" CSV files and its submission format.

``train.csv`` has a header ``label,pixel0,...,pixel783`` and one 28x28 MNIST
image per row (light ink, values 0..255); ``test.csv`` has the pixel columns
only. A submission is ``ImageId,Label`` with ImageId counted from 1.
Files may be compressed (``.gz``, ``.zip``, ...; pandas infers it from the name).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from cnnsvm.data.dataset import ImageDataset
from cnnsvm.data.pixels import to_uint8
from cnnsvm.exceptions import DataError

SIDE = 28
N_PIXELS = SIDE * SIDE
DIGIT_CLASSES = [str(i) for i in range(10)]
_PIXEL_COLUMN = re.compile(r"^pixel(\d+)$", re.IGNORECASE)


class SubmissionExistsError(DataError, FileExistsError):
    """The submission file exists and ``overwrite`` was not given."""


def load_kaggle_csv(path, name="kaggle_digits"):
    """Load the Kaggle "Digit Recognizer" training file.

    Parameters
    ----------
    path : str or path-like
        CSV with a ``label`` column and 784 pixel columns (``pixel0`` .. ``pixel783``).
    name : str, default="kaggle_digits"
        Name of the dataset.

    Returns
    -------
    ImageDataset
        28x28 images, classes ``"0"`` .. ``"9"``, light ink.

    Raises
    ------
    DataError
        If the file is empty, has not 784 pixel columns or no label column,
        holds non-numeric, missing or out-of-range values (the row is named),
        or labels outside 0..9.
    """
    path = Path(path).expanduser()
    frame = _read_csv(path)
    label_col = _find_label_column(frame)
    if label_col is None:
        hint = (
            "; it looks like the Kaggle test file, read it with read_kaggle_test" if frame.shape[1] == N_PIXELS else ""
        )
        raise DataError(
            f"{path} has no 'label' column{hint}; a training file needs the header label,pixel0,...,pixel783"
        )
    labels = _numeric(frame[[label_col]], path).iloc[:, 0].to_numpy()
    pixels = _pixels(frame.drop(columns=[label_col]), path)
    bad = np.flatnonzero((labels != np.round(labels)) | (labels < 0) | (labels > 9))
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"{path}: {_row(row)} has the label {labels[row]:g}; labels must be digits 0..9 "
            f"({len(bad)} bad row(s) in all); fix or drop those rows"
        )
    return ImageDataset(
        images=pixels,
        labels=labels.astype(np.int64),
        class_names=list(DIGIT_CLASSES),
        name=name,
        ink="light",
        source=str(path),
    )


def read_kaggle_test(path):
    """Read the Kaggle "Digit Recognizer" test file (pixel columns only).

    Parameters
    ----------
    path : str or path-like
        CSV with 784 pixel columns and no label column.

    Returns
    -------
    ndarray of uint8, shape (n_samples, 28, 28)

    Raises
    ------
    DataError
        As :func:`load_kaggle_csv`, and if the file has a label column.
    """
    path = Path(path).expanduser()
    frame = _read_csv(path)
    if _find_label_column(frame) is not None:
        raise DataError(
            f"{path} has a 'label' column, so it is a training file, not the test file; "
            "load it with load_kaggle_csv (the csv: source)"
        )
    return _pixels(frame, path)


def write_kaggle_submission(labels, path, overwrite=False):
    """Write predicted digits as a Kaggle submission (``ImageId,Label``).

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Predicted digit of each test image, in the test file's order.
    path : str or path-like
        Output CSV; its parent folders are created.
    overwrite : bool, default=False
        Replace an existing file. Without it an existing file is an error.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    SubmissionExistsError
        (a :class:`DataError` and :class:`FileExistsError`) if the file exists
        and ``overwrite`` is false.
    DataError
        If the labels are empty, not one-dimensional or not digits 0..9.
    """
    path = Path(path).expanduser()
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise DataError(f"submission labels must be a non-empty one-dimensional array; got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.number) or labels.dtype == bool:
        try:
            labels = labels.astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"submission labels must be digits 0..9; got dtype {labels.dtype}") from exc
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise DataError("submission labels must be whole digits 0..9; check the model's class names")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the path of the submission CSV file")
    frame = pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels.astype(np.int64)})
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "w" if overwrite else "x", newline="", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)
    except FileExistsError as exc:
        raise SubmissionExistsError(
            f"{path} already exists; pass overwrite=True (--force on the command line) to replace it, "
            "or choose another file name"
        ) from exc
    return path


def _read_csv(path):
    if not path.exists():
        raise DataError(f"CSV file {path} does not exist; check the path")
    if not path.is_file():
        raise DataError(f"{path} is not a file; give the path of a CSV file")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} is empty; give a CSV with the header label,pixel0,...,pixel783") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path} cannot be parsed as CSV ({exc}); check the file") from exc
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no rows; it holds no images")
    return frame


def _find_label_column(frame):
    for col in frame.columns:
        if str(col).strip().lower() == "label":
            return col
    return None


def _pixels(frame, path):
    """Check and order the pixel columns; return uint8 images (n, 28, 28)."""
    if frame.shape[1] != N_PIXELS:
        raise DataError(
            f"{path} has {frame.shape[1]} pixel columns but 28x28 images need {N_PIXELS} "
            "(pixel0 .. pixel783); check that this is a Kaggle Digit Recognizer file"
        )
    numbers = [_PIXEL_COLUMN.match(str(c).strip()) for c in frame.columns]
    if all(numbers):
        order = [int(m.group(1)) for m in numbers]
        if sorted(order) != list(range(N_PIXELS)):
            raise DataError(f"{path}: the pixel columns must be pixel0 .. pixel783, each once")
        frame = frame.iloc[:, np.argsort(order)]
    values = _numeric(frame, path).to_numpy(dtype=np.float64)
    bad = (values < 0) | (values > 255)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError(
            f"{path}: {_row(row)} has pixel values outside 0..255 ({values[row][bad[row]][0]:g}); pixels must be 0..255"
        )
    fractional = values != np.round(values)
    if fractional.any():
        row = int(np.flatnonzero(fractional.any(axis=1))[0])
        raise DataError(
            f"{path}: {_row(row)} has the fractional pixel value {values[row][fractional[row]][0]:g}; "
            "the Digit Recognizer format stores whole numbers 0..255 (if your pixels are scaled to "
            "[0, 1], multiply them by 255 and round)"
        )
    return to_uint8(values.astype(np.int64), name=str(path)).reshape(len(values), SIDE, SIDE)


def _numeric(frame, path):
    """Return ``frame`` as numbers, naming the first row with a non-numeric or missing value."""
    missing = frame.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing.any(axis=1))[0])
        col = frame.columns[int(np.flatnonzero(missing[row])[0])]
        raise DataError(f"{path}: {_row(row)} has a missing (NaN) value in column {col!r}; fill or drop that row")
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if not text_columns:
        return frame
    converted = frame.copy()
    for col in text_columns:
        converted[col] = pd.to_numeric(frame[col], errors="coerce")
    bad = converted.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        col = frame.columns[int(np.flatnonzero(bad[row])[0])]
        raise DataError(
            f"{path}: {_row(row)} has the non-numeric value {frame.iloc[row][col]!r} in column "
            f"{col!r}; every value must be a number"
        )
    return converted


def _row(index):
    return f"data row {index + 1} (line {index + 2} of the file)"
