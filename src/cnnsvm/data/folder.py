"""A folder of images with one sub-folder per class (``DIR/<class>/<image>``).

Class order is the sorted sub-folder names, numbers compared by value
(``"2"`` before ``"10"``). Class names are the folder names, or come from a
labels CSV mapping each folder name to a display name.

Labels CSV rule
---------------
The CSV may hold several tables, like the NHCD ``labels.csv`` (a title line
such as ``Numerals``, blank lines, then ``Class,Label,Devanagari Label,Phonetics``
and one row per class, repeated for Vowels and Consonants). It is read as:

1. Rows are split into tables at blank rows and at title rows (rows with a
   single non-empty cell). Each table's first row is its header; a table is
   also tried without a header (all rows data) in case the file has none.
2. The *key* column is a column whose (stripped) values include every class
   folder name, each once; numbers match by value (``"01"`` matches ``"1"``).
   When several tables or columns qualify, the choice goes to: a column
   holding exactly the folder names (no extra values); then a table whose
   title names the image folder (``Vowels`` for ``.../vowels``); then a key
   column named like ``class``/``folder``/``dir``/``id``/``key``; then the
   earliest in the file.
3. The *display* column, among the other columns of that table, is the one
   named ``label`` (case-insensitive), else ``name``, else ``class_name``,
   else the first whose name contains ``label`` or ``name``, else the first
   other column. A folder whose display value is empty keeps its folder name.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np

from cnnsvm.data.dataset import ImageDataset
from cnnsvm.data.images import is_image_filename, read_image_file
from cnnsvm.data.preprocessing import pad_to_square, resize_image
from cnnsvm.data.validation import check_ink_option, resolve_ink
from cnnsvm.exceptions import DataError

_IGNORED_DIRS = {"__macosx"}
_KEY_HEADER_WORDS = ("class", "folder", "dir", "directory", "id", "key", "code")
_DISPLAY_HEADERS = ("label", "name", "class_name", "classname", "display_name")


def natural_key(text):
    """Sort key comparing runs of digits by value: ``"2" < "10"``, ``"a2" < "a10"``."""
    parts = re.split(r"(\d+)", str(text))
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in parts if p)
    return key, str(text)


def load_image_folder(directory, labels_csv=None, name=None, ink="auto"):
    """Load a labelled image set from one sub-folder per class.

    Parameters
    ----------
    directory : str or path-like
        Holds one sub-folder per class; each holds PNG, JPEG, BMP or GIF files
        (extensions compared case-insensitively). Other files (``.DS_Store``,
        ``Thumbs.db``, hidden files) and nested folders are ignored, as are
        hidden sub-folders and ``__MACOSX``.
    labels_csv : str or path-like, optional
        A CSV mapping folder names to class names; see the module docstring
        for how its columns are chosen.
    name : str, optional
        Name of the dataset; by default the folder's name.
    ink : {"auto", "light", "dark"}, default="auto"
        Polarity of the strokes; ``"auto"`` guesses it from the mean image.

    Returns
    -------
    ImageDataset
        Images of one size: if sizes differ, every image is resized (aspect
        kept, padded with its own background) to a square whose side is the
        longer side of the most common size. ``extra["files"]`` lists the
        image paths relative to ``directory``; ``extra["class_dirs"]`` the
        folder names.

    Raises
    ------
    DataError
        If the directory is missing, has no class sub-folders or fewer than
        two, a class folder holds no image (named), an image is unreadable
        (named), or the labels CSV does not name every folder.
    """
    directory = Path(directory).expanduser()
    check_ink_option(ink, where=str(directory))
    if not directory.exists():
        raise DataError(f"image folder {directory} does not exist; check the path")
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory; give a folder with one sub-folder per class")
    class_dirs = sorted(
        (
            p
            for p in directory.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name.lower() not in _IGNORED_DIRS
        ),
        key=lambda p: natural_key(p.name),
    )
    if not class_dirs:
        raise DataError(
            f"{directory} has no class sub-folders; put the images of each class in their own "
            f"sub-folder ({directory}/<class>/<image>.png)"
        )
    if len(class_dirs) < 2:
        raise DataError(
            f"{directory} has only one class sub-folder ({class_dirs[0].name}); a classifier needs "
            "at least two classes, add another class folder"
        )
    files, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        class_files = sorted(
            (p for p in class_dir.iterdir() if p.is_file() and is_image_filename(p.name)),
            key=lambda p: natural_key(p.name),
        )
        if not class_files:
            raise DataError(
                f"class folder {class_dir} holds no images (.png, .jpg, .jpeg, .bmp, .gif); "
                "add images or remove the folder"
            )
        files.extend(class_files)
        labels.extend([index] * len(class_files))
    images = _to_common_size([read_image_file(p) for p in files])
    folder_names = [p.name for p in class_dirs]
    class_names = folder_names
    if labels_csv is not None:
        class_names = read_class_names_csv(labels_csv, folder_names, table_hint=directory.name)
    return ImageDataset(
        images=images,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=class_names,
        name=name or directory.resolve().name,
        ink=resolve_ink(ink, images),
        source=str(directory),
        extra={
            "files": [p.relative_to(directory).as_posix() for p in files],
            "class_dirs": folder_names,
        },
    )


def _to_common_size(images):
    """Stack images, resizing them to the most common size when sizes differ."""
    shapes = Counter(img.shape for img in images)
    if len(shapes) == 1:
        return np.stack(images)
    (h, w), _ = max(shapes.items(), key=lambda item: (item[1], item[0]))
    side = max(h, w)
    out = np.empty((len(images), side, side), dtype=np.uint8)
    for i, img in enumerate(images):
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        square = pad_to_square(img.astype(np.float32), fill=float(np.median(border)))
        out[i] = np.clip(np.rint(resize_image(square, side)), 0, 255).astype(np.uint8)
    return out


def read_class_names_csv(path, folder_names, table_hint=None):
    """Map class folder names to display names with a labels CSV.

    Parameters
    ----------
    path : str or path-like
        The CSV; see the module docstring for the rule that picks its columns.
    folder_names : list of str
        The class folder names, in class order.
    table_hint : str, optional
        Name of the image folder; breaks ties between tables whose title matches it.

    Returns
    -------
    list of str
        One display name per folder name.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"labels CSV {path} {what}; check the path given with labels=")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [[cell.strip() for cell in row] for row in csv.reader(fh)]
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise DataError(f"labels CSV {path} cannot be read ({exc}); save it as UTF-8 CSV") from exc
    wanted = {_norm(f): f for f in folder_names}
    best = None
    for order, (title, header, body) in enumerate(_tables(rows)):
        ncols = max(len(r) for r in body)
        for col in range(ncols):
            values = [_norm(r[col]) if col < len(r) else "" for r in body]
            present = [v for v in values if v]
            if not set(wanted) <= set(present):
                continue
            if any(present.count(k) > 1 for k in wanted):
                continue
            head = header[col].lower() if header and col < len(header) else ""
            score = (
                set(present) == set(wanted),
                bool(table_hint) and title.casefold() == str(table_hint).casefold(),
                any(word == head or head.startswith(word) for word in _KEY_HEADER_WORDS),
                -order,
                -col,
            )
            if best is None or score > best[0]:
                best = (score, header, body, col)
    if best is None:
        raise DataError(
            f"labels CSV {path} has no column whose values include every class folder name "
            f"({', '.join(folder_names)}); add a column with the folder names and one with the labels"
        )
    _, header, body, key_col = best
    display_col = _display_column(header, body, key_col)
    if display_col is None:
        raise DataError(f"labels CSV {path} has only the folder-name column; add a column with the class labels")
    mapping = {}
    for row in body:
        if key_col < len(row) and _norm(row[key_col]) in wanted:
            mapping[_norm(row[key_col])] = row[display_col] if display_col < len(row) else ""
    names = [mapping.get(_norm(f)) or f for f in folder_names]
    counts = Counter(names)
    return [f"{n} ({f})" if counts[n] > 1 else n for n, f in zip(names, folder_names, strict=True)]


def _norm(value):
    value = str(value).strip()
    return str(int(value)) if value.isdigit() else value


def _tables(rows):
    """Yield ``(title, header, body)`` for each table of a possibly multi-table CSV.

    Each table is yielded twice: with its first row as header, and headerless.
    """
    title, block = "", []
    blocks = []
    for row in rows + [[]]:
        filled = [c for c in row if c]
        if len(filled) >= 2:
            block.append(row)
            continue
        if block:
            blocks.append((title, block))
            block = []
        if len(filled) == 1:
            title = filled[0]
    for title, block in blocks:
        if len(block) >= 2:
            yield title, block[0], block[1:]
        yield title, None, block


def _display_column(header, body, key_col):
    ncols = max(len(r) for r in body)
    others = [c for c in range(ncols) if c != key_col]
    if not others:
        return None
    if header:
        names = {c: (header[c].strip().lower() if c < len(header) else "") for c in others}
        for wanted in _DISPLAY_HEADERS:
            for c in others:
                if names[c] == wanted:
                    return c
        for c in others:
            if "label" in names[c] or "name" in names[c]:
                return c
    return others[0]
