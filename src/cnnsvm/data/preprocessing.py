"""Image preprocessing: polarity, crop, aspect-preserving resize, scaling.

Models are trained on light ink on a dark background with pixels scaled to
[0, 1]. :class:`ImagePreprocessor` is the first step of every pipeline and
turns raw 0..255 images of one size into the model's input size.
:func:`prepare_image` does the same for one free-form image (a file, a drawing),
deciding its polarity and cropping it to its ink first.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cnnsvm.exceptions import DataError

#: Free-form images with a longer side than this are shrunk first (bounds memory and time:
#: a long thin image padded to a square could otherwise need gigabytes).
MAX_SIDE = 2048

#: Pixels brighter than this fraction of the image's range count as ink (light-ink images).
INK_THRESHOLD = 0.25


def as_image_batch(X, *, name="X"):
    """Return ``X`` as a float array of shape (n_samples, height, width).

    Accepts (n, h, w), (n, h, w, 1) or (n, h*w) when h*w is a perfect square.
    """
    X = np.asarray(X)
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    if X.ndim == 2:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise DataError(
                f"{name} has {X.shape[1]} features per sample, which is not a square image; "
                "pass images as an array of shape (n_samples, height, width)"
            )
        X = X.reshape(len(X), side, side)
    if X.ndim != 3:
        raise DataError(
            f"{name} must be images of shape (n_samples, height, width) or flattened square images "
            f"(n_samples, height*width); got shape {X.shape}"
        )
    return X


def scale_pixels(X):
    """Scale pixel values to [0, 1].

    uint8 and float inputs with values above 1 are read as 0..255; float inputs
    whose values all lie in [0, 1] are taken as already scaled.
    """
    X = np.asarray(X)
    if X.dtype == np.uint8:
        out = X.astype(np.float32)
        out /= 255.0  # in place: one float32 copy of the batch instead of two (same values)
        return out
    X = X.astype(np.float32)
    if not X.size:
        return X
    if not np.isfinite(X).all():
        raise DataError("images contain NaN or infinite values; clean or drop those samples")
    lo, hi = X.min(), X.max()
    if lo < 0 or hi > 255:
        raise DataError(f"pixel values must lie in 0..255 (or 0..1); got {lo:g}..{hi:g}")
    if hi > 1.0:
        X /= 255.0  # X is our own copy
    return X


def pad_to_square(image, fill=0.0):
    """Pad a 2-D image with ``fill`` so that it is square, content centred."""
    h, w = image.shape
    side = max(h, w)
    out = np.full((side, side), fill, dtype=image.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out


def resize_image(image, size):
    """Resize a 2-D float image to (size, size), keeping its aspect ratio by padding."""
    image = pad_to_square(image)
    if image.shape[0] == size:
        return image.astype(np.float32)
    pil = Image.fromarray(image.astype(np.float32), mode="F")
    return np.asarray(pil.resize((size, size), Image.BILINEAR), dtype=np.float32)


def resize_batch(images, size):
    """Resize a batch of (n, h, w) images to (n, size, size), padding to keep aspect."""
    n, h, w = images.shape
    if h == size and w == size:
        return images.astype(np.float32, copy=False)
    return np.stack([resize_image(img, size) for img in images]) if n else np.zeros(
        (0, size, size), np.float32
    )


def ink_fill_fraction(images):
    """Median ratio of the ink bounding box's longer side to the image side.

    ``images`` are light-ink, scaled to [0, 1]. Used to crop and pad a free-form
    image so that its character fills the frame as the training characters do.
    """
    fractions = []
    for img in images:
        rows, cols = _ink_extent(img)
        if rows is None:
            continue
        longest = max(rows[1] - rows[0], cols[1] - cols[0]) + 1
        fractions.append(longest / max(img.shape))
    return float(np.median(fractions)) if fractions else 1.0


def _ink_extent(image, threshold=INK_THRESHOLD):
    lo, hi = float(image.min()), float(image.max())
    if hi - lo <= 1e-6:
        return None, None
    mask = image > lo + threshold * (hi - lo)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return (rows[0], rows[-1]), (cols[0], cols[-1])


def guess_ink(image):
    """Guess the polarity of one 2-D image from its border: ``"dark"`` if the border is light."""
    image = np.asarray(image, dtype=np.float32)
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    mid = (float(image.min()) + float(image.max())) / 2
    return "dark" if border.mean() > mid else "light"


def shrink_to(image, max_side):
    """Shrink a 2-D image so that its longer side is at most ``max_side``, keeping its aspect ratio.

    Parameters
    ----------
    image : ndarray of shape (height, width)
        uint8 or float pixels.
    max_side : int

    Returns
    -------
    ndarray
        ``image`` itself when it is small enough, else a box-filtered copy of the same dtype.
    """
    height, width = image.shape
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize(size, Image.BOX), dtype=np.uint8)
    pil = Image.fromarray(image.astype(np.float32), mode="F")
    return np.asarray(pil.resize(size, Image.BOX), dtype=np.float32)


def prepare_image(image, size, *, ink="auto", crop=True, fill_fraction=1.0):
    """Turn one free-form grayscale image into a model input.

    Parameters
    ----------
    image : array-like of shape (height, width)
        Pixels in 0..255 (or 0..1 floats).
    size : int
        Side of the model's square input.
    ink : {"auto", "light", "dark"}, default="auto"
        Polarity of the strokes. ``"dark"`` (black on white, as drawn on paper)
        is inverted; ``"auto"`` guesses from the border.
    crop : bool, default=True
        Crop to the ink's bounding box and pad it so the character fills
        ``fill_fraction`` of the frame, as in the training images.
    fill_fraction : float, default=1.0
        See ``crop``; models record theirs as ``fill_fraction_`` of their
        :class:`ImagePreprocessor`.

    Returns
    -------
    ndarray of float32, shape (size, size)
        Light ink on dark, scaled to [0, 1].
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise DataError(f"expected one grayscale image of shape (height, width); got shape {image.shape}")
    if min(image.shape) < 1:
        raise DataError("the image is empty (zero height or width)")
    image = scale_pixels(shrink_to(image, MAX_SIDE))
    if ink == "auto":
        ink = guess_ink(image)
    if ink not in ("light", "dark"):
        raise DataError(f"ink must be 'auto', 'light' or 'dark'; got {ink!r}")
    if ink == "dark":
        image = 1.0 - image
    if crop:
        rows, cols = _ink_extent(image)
        if rows is None:
            raise DataError("the image is blank: it has no strokes to recognise")
        image = image[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1]
        image = pad_to_square(image)
        frame = int(round(image.shape[0] / max(min(fill_fraction, 1.0), 0.05)))
        canvas = np.zeros((frame, frame), np.float32)
        off = (frame - image.shape[0]) // 2
        canvas[off : off + image.shape[0], off : off + image.shape[0]] = image
        image = canvas
    return resize_image(image, size)


class ImagePreprocessor(TransformerMixin, BaseEstimator):
    """Resize images to the model's square input and scale them to [0, 1].

    The first step of every cnnsvm pipeline. Input images are light ink on a
    dark background (see :meth:`cnnsvm.data.ImageDataset.with_light_ink`),
    pixel values 0..255, all of one size.

    Parameters
    ----------
    image_size : int, default=28
        Side of the square output images. Non-square inputs are padded, not stretched.
    flatten : bool, default=True
        Return (n_samples, image_size**2) instead of (n_samples, image_size, image_size).

    Attributes
    ----------
    input_shape_ : tuple of int
        (height, width) of the images seen in ``fit``.
    fill_fraction_ : float
        Median share of the frame taken by the characters seen in ``fit``.
    n_features_in_ : int
        height * width.
    """

    def __init__(self, image_size=28, flatten=True):
        self.image_size = image_size
        self.flatten = flatten

    def fit(self, X, y=None):
        images = self._check_images(X)
        self.input_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        sample = resize_batch(scale_pixels(images[:2000]), self.image_size)
        self.fill_fraction_ = ink_fill_fraction(sample)
        return self

    def transform(self, X):
        check_is_fitted(self, "input_shape_")
        images = self._check_images(X)
        if tuple(images.shape[1:]) != self.input_shape_:
            h, w = self.input_shape_
            raise DataError(
                f"images are {images.shape[1]}x{images.shape[2]} but this model was fitted on "
                f"{h}x{w} images; resize them first, or use cnnsvm.data.prepare_image for single images"
            )
        out = resize_batch(scale_pixels(images), self.image_size)
        return out.reshape(len(out), -1) if self.flatten else out

    def _check_images(self, X):
        images = as_image_batch(X)
        if len(images) == 0:
            raise DataError("no images given: the array has zero samples")
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 4:
            raise DataError(f"image_size must be an integer >= 4; got {self.image_size!r}")
        return images
