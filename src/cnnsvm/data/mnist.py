"""MNIST, from the keras ``mnist.npz`` archive or from the four original IDX files.

The IDX format (http://yann.lecun.com/exdb/mnist/) is a big-endian header --
two zero bytes, a type code, the number of dimensions, then one 32-bit size
per dimension -- followed by the values. It is parsed here with :mod:`struct`
and numpy; files may be gzipped.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnsvm.data.dataset import DatasetSplit, ImageDataset
from cnnsvm.data.npz import SPLIT_KEYS, read_npz
from cnnsvm.data.validation import check_label_array, to_uint8_images
from cnnsvm.exceptions import DataError

MNIST_CLASSES = [str(i) for i in range(10)]

#: IDX type codes and the big-endian numpy types they denote.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four files of the original distribution, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def load_mnist_npz(path):
    """Load MNIST from a keras-style ``mnist.npz``.

    Parameters
    ----------
    path : str or path-like
        Archive with ``x_train``, ``y_train``, ``x_test``, ``y_test``; labels 0..9.

    Returns
    -------
    DatasetSplit
        The official split (``official=True``); datasets named ``"mnist"``,
        classes ``"0"`` .. ``"9"``, light ink.

    Raises
    ------
    DataError
        If the file is unreadable, keys are missing, counts differ or labels
        fall outside 0..9.
    """
    path = Path(path).expanduser()
    arrays = read_npz(path)
    missing = [k for k in SPLIT_KEYS if k not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks {', '.join(missing)} (it holds {sorted(arrays) or 'no arrays'}); an MNIST "
            f"archive needs {', '.join(SPLIT_KEYS)}; for other layouts use the npz: source"
        )
    parts = {}
    for part in ("train", "test"):
        images = to_uint8_images(arrays[f"x_{part}"], f"{path}: x_{part}")
        labels = check_label_array(arrays[f"y_{part}"], len(images), f"{path}: y_{part}", f"x_{part}")
        parts[part] = (images, _digit_labels(labels, f"{path}: y_{part}"))
    return _mnist_split(parts, source=str(path))


def load_idx_dir(directory):
    """Load MNIST from a folder holding the four original IDX files.

    Parameters
    ----------
    directory : str or path-like
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each
        possibly gzipped (``.gz``) and possibly with a dot before ``idx``
        (``train-images.idx3-ubyte``). Names are matched case-insensitively.

    Returns
    -------
    DatasetSplit
        As :func:`load_mnist_npz`.

    Raises
    ------
    DataError
        If files are missing (all are listed), have a wrong magic number or
        dimensions, are truncated, or image and label counts differ.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise DataError(f"{directory} {what}; give the folder holding the MNIST IDX files")
    found = {role: find_idx_file(directory, base) for role, base in IDX_FILES.items()}
    missing = [IDX_FILES[role] for role, p in found.items() if p is None]
    if missing:
        raise DataError(
            f"{directory} lacks the MNIST file(s) {', '.join(missing)} (optionally .gz); put all four IDX files there"
        )
    parts = {}
    for part, prefix in (("train", "train"), ("test", "test")):
        images = read_idx(found[f"{prefix}_images"], expected_ndim=3)
        labels = read_idx(found[f"{prefix}_labels"], expected_ndim=1)
        if len(images) != len(labels):
            raise DataError(
                f"{found[f'{prefix}_images'].name} holds {len(images)} images but "
                f"{found[f'{prefix}_labels'].name} holds {len(labels)} labels; "
                "the files do not belong together, download them again"
            )
        if len(images) == 0:
            raise DataError(f"{found[f'{prefix}_images']} holds no images; download it again")
        where = str(found[f"{prefix}_labels"])
        images = to_uint8_images(images, str(found[f"{prefix}_images"]))
        parts[part] = (images, _digit_labels(labels, where))
    return _mnist_split(parts, source=str(directory))


def find_idx_file(directory, base):
    """Find the file for ``base`` (e.g. ``train-images-idx3-ubyte``) in ``directory``.

    Accepts ``base``, ``base.gz`` and the dotted variants (``train-images.idx3-ubyte``),
    case-insensitively. Returns ``None`` when none exists.
    """
    stem, _, suffix = base.rpartition("-idx")
    variants = [base, f"{stem}.idx{suffix}"]
    wanted = [v + ext for v in variants for ext in ("", ".gz")]
    entries = {p.name.lower(): p for p in directory.iterdir() if p.is_file()}
    for name in wanted:
        if name.lower() in entries:
            return entries[name.lower()]
    return None


def read_idx(path, expected_ndim=None):
    """Read one IDX file (gzipped or not) into a numpy array.

    Parameters
    ----------
    path : str or path-like
        The file.
    expected_ndim : int, optional
        Number of dimensions the file must have (3 for images, 1 for labels).

    Returns
    -------
    ndarray
        Of the file's shape, in native byte order.

    Raises
    ------
    DataError
        If the gzip stream is corrupt, the magic number or dimensions are
        wrong, or the data is shorter or longer than the header says.
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes); download it again")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path} has the bad magic number 0x{raw[:4].hex()}; it is not an IDX file "
            "(expected 0x00000803 for images, 0x00000801 for labels)"
        )
    if expected_ndim is not None and ndim != expected_ndim:
        kind = {3: "images (magic 0x00000803)", 1: "labels (magic 0x00000801)"}.get(expected_ndim, "")
        raise DataError(
            f"{path} has {ndim} dimension(s) but should hold {kind or f'{expected_ndim} dimensions'}; "
            "check that the files are not swapped"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header; download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if ndim == 3 and (dims[1] == 0 or dims[2] == 0):
        raise DataError(f"{path} declares images of size {dims[1]}x{dims[2]}; download it again")
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise DataError(
            f"{path} is truncated: its header declares {'x'.join(map(str, dims))} values "
            f"({expected} bytes) but only {got} bytes follow; download it again"
        )
    if got > expected:
        raise DataError(
            f"{path} has {got - expected} bytes more than its header declares "
            f"({'x'.join(map(str, dims))}); it is corrupt, download it again"
        )
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def _read_maybe_gzip(path):
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}; check its permissions") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({exc}); download it again") from exc


def _digit_labels(labels, where):
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: MNIST labels must be integers 0..9, got dtype {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(
            f"{where}: MNIST labels must lie in 0..9, got {labels.min()}..{labels.max()}; "
            "for other label sets use the npz: source"
        )
    return labels.astype(np.int64)


def _mnist_split(parts, source):
    (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{source}: training images are {x_train.shape[1]}x{x_train.shape[2]} but test images are "
            f"{x_test.shape[1]}x{x_test.shape[2]}; both parts need one image size"
        )
    common = dict(class_names=list(MNIST_CLASSES), name="mnist", ink="light", source=source)
    return DatasetSplit(
        train=ImageDataset(images=x_train, labels=y_train, **common),
        test=ImageDataset(images=x_test, labels=y_test, **common),
        official=True,
    )
