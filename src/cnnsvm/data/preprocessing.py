"""Image preprocessing: polarity, crop, aspect-preserving resize, scaling.

Networks see light ink on a dark background with pixels scaled to [0, 1].
:class:`ImagePreprocessor` is the first step of every pipeline: it reads pixels
under the contract of :mod:`cnnsvm.data.pixels` (integers 0..255, floats in
[0, 1]), puts every image in light ink (recording the polarity it was trained
on) and resizes it to the model's input size. :func:`prepare_image` does the same
for one free-form image (a file, a drawing), cropping it to its ink first.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from cnnsvm.data.pixels import PIXEL_CONTRACT, check_pixels, to_unit_float
from cnnsvm.exceptions import ConfigError, DataError

#: Free-form images with a longer side than this are shrunk first (bounds memory and time:
#: a long thin image padded to a square could otherwise need gigabytes).
MAX_SIDE = 2048

#: Pixels brighter than this fraction of the image's range count as ink (light-ink images).
INK_THRESHOLD = 0.25

#: An image whose mean border pixel lies at most this far up its own dark-to-light range
#: clearly has light ink on a dark background; at least :data:`DARK_INK_BORDER`, dark ink on
#: light. In between (or for a flat image) its polarity cannot be told from the image alone.
#: (Measured: MNIST and sklearn's digits <= 0.28, the three NHCD sets >= 0.64.)
LIGHT_INK_BORDER = 0.4
DARK_INK_BORDER = 0.6

#: Values of the ``ink`` parameter of :class:`ImagePreprocessor`.
INK_MODES = ("auto", "light", "dark")


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
    """Scale pixel values to [0, 1] under the pixel contract (see :func:`cnnsvm.data.pixels.to_unit_float`).

    Integer arrays are read as 0..255 and float arrays as [0, 1], whatever their
    values; float arrays with values above 1 are refused.
    """
    return to_unit_float(X)


def border_brightness(images):
    """Mean border pixel of each image, relative to the image's own darkest (0) and lightest (1) pixel.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width)
        Any pixels (the measure does not depend on their scale).

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        NaN for a flat image (less than one grey level between darkest and lightest pixel).
    """
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        return np.zeros(0)
    flat = images.reshape(n, -1)
    lo = flat.min(axis=1).astype(np.float64)
    hi = flat.max(axis=1).astype(np.float64)
    border = np.concatenate([images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], axis=1).astype(
        np.float64
    )
    span = hi - lo
    grey_level = 0.5 if images.dtype.kind in "iu" else 0.5 / 255
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (border.mean(axis=1) - lo) / span
    ratio[span < grey_level] = np.nan
    return np.round(ratio, 9)  # the same answer for uint8 images and their float copies


def image_polarities(images):
    """Tell the polarity of each image from its border: ``"light"``, ``"dark"`` or ``""`` (cannot tell).

    See :data:`LIGHT_INK_BORDER` and :data:`DARK_INK_BORDER`.
    """
    ratio = border_brightness(images)
    out = np.full(len(ratio), "", dtype="<U5")
    with np.errstate(invalid="ignore"):
        out[ratio <= LIGHT_INK_BORDER] = "light"
        out[ratio >= DARK_INK_BORDER] = "dark"
    return out


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
    return np.stack([resize_image(img, size) for img in images]) if n else np.zeros((0, size, size), np.float32)


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
    image = np.asarray(image)  # no float copy of a big image: only its border is needed
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float64)
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
        Pixels under the pixel contract: integers 0..255 or floats in [0, 1].
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
    image = check_pixels(image, name="the image")
    # shrink in the image's own scale (uint8 stays uint8, floats stay in [0, 1]), then scale
    image = image.astype(np.uint8 if image.dtype.kind in "iu" else np.float32, copy=False)
    image = to_unit_float(shrink_to(image, MAX_SIDE), name="the image")
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
    """Put images in light ink, resize them to the model's square input and scale them to [0, 1].

    The first step of every cnnsvm pipeline. Pixels follow the contract of
    :mod:`cnnsvm.data.pixels`: integer arrays are 0..255, float arrays [0, 1]
    (the dtype decides, so an image means the same alone or in any batch). All
    images of one fit have one size.

    Parameters
    ----------
    image_size : int, default=28
        Side of the square output images. Non-square inputs are padded, not stretched.
    flatten : bool, default=True
        Return (n_samples, image_size**2) instead of (n_samples, image_size, image_size).
    ink : {"auto", "light", "dark"}, default="auto"
        Stroke polarity of the images given to ``fit`` and ``transform``.
        ``"light"``: light strokes on a dark background (MNIST); ``"dark"``: dark
        strokes on a light background (NHCD, ink on paper), inverted before the
        network sees them. ``"auto"`` tells each image's polarity from its border
        (see :func:`image_polarities`), so a model trained on light ink reads
        dark-ink images too; an image whose polarity cannot be told is taken to be
        in the training images' polarity ``ink_`` (the majority of those that can
        be told). ``fit`` refuses a training set in which fewer than half of the
        images have a polarity that can be told: pass ``"light"`` or ``"dark"`` then.

    Attributes
    ----------
    input_shape_ : tuple of int
        (height, width) of the images seen in ``fit``.
    ink_ : {"light", "dark"}
        Polarity of (most of) the images seen in ``fit``; the network always sees light ink.
    fill_fraction_ : float
        Median share of the frame taken by the characters seen in ``fit`` (their framing,
        reproduced for free-form images by :func:`prepare_image`).
    n_features_in_ : int
        height * width.
    """

    def __init__(self, image_size=28, flatten=True, ink="auto"):
        self.image_size = image_size
        self.flatten = flatten
        self.ink = ink

    def __setstate__(self, state):
        # Models saved before the ink parameter existed (model format 1) were trained on light ink.
        state = dict(state)
        state.setdefault("ink", "light")
        if "input_shape_" in state:
            state.setdefault("ink_", "light")
        super().__setstate__(state)

    def fit(self, X, y=None):
        """Learn the input shape, the training images' ink polarity and their framing.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images under the pixel contract (integers 0..255 or floats in [0, 1]);
            flat rows must hold a square number of pixels.
        y : ignored

        Returns
        -------
        self : ImagePreprocessor
        """
        images = self._check_images(X)
        self.input_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        polarity = image_polarities(images) if self.ink == "auto" else None
        if self.ink == "auto":
            n_light, n_dark = int(np.sum(polarity == "light")), int(np.sum(polarity == "dark"))
            if 2 * (n_light + n_dark) < len(images):
                raise DataError(
                    f"cannot tell the ink polarity of the training images from their borders "
                    f"({n_light} look light on dark, {n_dark} dark on light, "
                    f"{len(images) - n_light - n_dark} cannot be told); "
                    "say it: ImagePreprocessor(ink='light') for light strokes on a dark background, "
                    "ink='dark' for dark strokes on a light one (in a pipeline: "
                    "model.set_params(preprocess__ink='light'))"
                )
            self.ink_ = "dark" if n_dark > n_light else "light"
        else:
            self.ink_ = self.ink
        sample = self._to_light(scale_pixels(images[:2000]))
        self.fill_fraction_ = ink_fill_fraction(resize_batch(sample, self.image_size))
        return self

    def transform(self, X):
        """Light ink, square ``image_size`` frame, pixels scaled to [0, 1].

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images under the pixel contract (integers 0..255 or floats in [0, 1]);
            of the shape seen in ``fit``.

        Returns
        -------
        ndarray of float32, shape (n_samples, image_size**2) or (n_samples, image_size, image_size)
            The second with ``flatten=False``.
        """
        check_is_fitted(self, "input_shape_")
        images = self._check_images(X)
        if tuple(images.shape[1:]) != self.input_shape_:
            h, w = self.input_shape_
            raise DataError(
                f"images are {images.shape[1]}x{images.shape[2]} but this model was fitted on "
                f"{h}x{w} images; resize them first, or use cnnsvm.data.prepare_image for single images"
            )
        out = resize_batch(self._to_light(scale_pixels(images)), self.image_size)
        return out.reshape(len(out), -1) if self.flatten else out

    def _to_light(self, images):
        """Invert, in place, the images of ``images`` (scaled to [0, 1]) that have dark ink."""
        if self.ink == "light":
            return images
        if self.ink == "dark":
            dark = np.ones(len(images), bool)
        else:
            polarity = image_polarities(images)
            dark = (polarity == "dark") | ((polarity == "") & (self.ink_ == "dark"))
        if dark.any():
            images[dark] = 1.0 - images[dark]
        return images

    def _check_images(self, X):
        if self.ink not in INK_MODES:
            raise ConfigError(f"ink must be one of {', '.join(INK_MODES)}; got {self.ink!r}")
        images = as_image_batch(X)
        if len(images) == 0:
            raise DataError("no images given: the array has zero samples")
        if min(images.shape[1:]) < 1:
            raise DataError(
                f"images have 0 feature(s) (shape={np.shape(X)}) while a minimum of 1 is required: "
                "pass images of at least one pixel"
            )
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 4:
            raise DataError(f"image_size must be an integer >= 4; got {self.image_size!r}")
        return check_pixels(images, name="images")

    def input_contract(self):
        """What this fitted preprocessor expects, as recorded in a model file's sidecar.

        Returns
        -------
        dict
            ``image_shape``, ``model_size``, ``pixels`` (the pixel contract), ``ink`` (the
            polarity of the training images), ``ink_mode`` (the ``ink`` parameter:
            how inputs are read at predict time), ``network_ink`` (always ``"light"``) and
            ``framing`` (``fill_fraction``: the median share of the frame the training
            characters take, reproduced when free-form images are cropped and re-framed).
        """
        check_is_fitted(self, "input_shape_")
        return {
            "image_shape": [int(v) for v in self.input_shape_],
            "model_size": int(self.image_size),
            "pixels": PIXEL_CONTRACT,
            "ink": self.ink_,
            "ink_mode": self.ink,
            "network_ink": "light",
            "framing": {"fill_fraction": float(self.fill_fraction_), "centring": "ink bounding box"},
        }
