"""The labelled image set that every loader returns and every consumer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnsvm.data.pixels import to_uint8
from cnnsvm.exceptions import DataError
from cnnsvm.ink import INK_POLARITIES


@dataclass
class ImageDataset:
    """A labelled set of grayscale images.

    Parameters
    ----------
    images : ndarray, shape (n_samples, height, width)
        Grayscale pixels under the pixel contract of :mod:`cnnsvm.data.pixels`:
        integers in 0..255 or floats in [0, 1] (floats above 1 are refused).
        Stored as uint8 0..255 (floats are rounded to the nearest 1/255).
    labels : ndarray of int, shape (n_samples,)
        Class indices, ``0 <= label < len(class_names)``.
    class_names : list of str
        Human-readable name of each class index.
    name : str
        Short name used in tables and file names.
    ink : {"light", "dark"}
        Polarity of the strokes; see :data:`INK_POLARITIES`.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    name: str = "dataset"
    ink: str = "light"
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3:
            raise DataError(f"{self.name}: images must have shape (n_samples, height, width); got {images.shape}")
        images = to_uint8(images, name=self.name)
        if labels.ndim != 1:
            raise DataError(f"{self.name}: labels must be one-dimensional; got shape {labels.shape}")
        if len(labels) != len(images):
            raise DataError(
                f"{self.name}: {len(images)} images but {len(labels)} labels; every image needs exactly one label"
            )
        if len(images) == 0:
            raise DataError(f"{self.name}: the dataset is empty")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{self.name}: labels must be integer class indices, got dtype {labels.dtype}")
        class_names = [str(c) for c in self.class_names]
        if labels.min() < 0 or labels.max() >= len(class_names):
            raise DataError(
                f"{self.name}: labels must lie in 0..{len(class_names) - 1} "
                f"(one per class name); got {labels.min()}..{labels.max()}"
            )
        if self.ink not in INK_POLARITIES:
            raise DataError(f"{self.name}: ink must be one of {INK_POLARITIES}, got {self.ink!r}")
        self.images = images
        self.labels = labels.astype(np.int64)
        self.class_names = class_names

    def __len__(self):
        return len(self.labels)

    @property
    def n_classes(self):
        """Number of classes named by the set (some may have no sample)."""
        return len(self.class_names)

    @property
    def image_shape(self):
        """``(height, width)`` of every image."""
        return tuple(self.images.shape[1:])

    def subset(self, indices, name=None):
        """Return the samples at ``indices`` as a new dataset with the same classes."""
        return ImageDataset(
            images=self.images[indices],
            labels=self.labels[indices],
            class_names=list(self.class_names),
            name=name or self.name,
            ink=self.ink,
            source=self.source,
            extra=dict(self.extra),
        )

    def with_light_ink(self):
        """Return the set with light strokes on a dark background (inverting if needed)."""
        if self.ink == "light":
            return self
        return ImageDataset(
            images=255 - self.images,
            labels=self.labels,
            class_names=list(self.class_names),
            name=self.name,
            ink="light",
            source=self.source,
            extra=dict(self.extra),
        )

    def class_counts(self):
        """Number of samples of each class index, as an array of length ``n_classes``."""
        return np.bincount(self.labels, minlength=self.n_classes)

    def describe(self):
        """One line: name, size, image shape, classes, polarity."""
        h, w = self.image_shape
        return f"{self.name}: {len(self)} images {h}x{w}, {self.n_classes} classes, {self.ink} ink"


@dataclass
class DatasetSplit:
    """A train/test pair of one dataset.

    ``official`` tells whether the split came with the data (MNIST) or was
    drawn by :func:`cnnsvm.data.splits.train_test_split_dataset`.
    """

    train: ImageDataset
    test: ImageDataset
    official: bool = False

    @property
    def name(self):
        return self.train.name

    @property
    def class_names(self):
        return self.train.class_names


def duplicate_names(names):
    """The names that occur more than once in ``names``, sorted (empty when all are distinct)."""
    names = list(names)
    return sorted({n for n in names if names.count(n) > 1})
