"""The pixel contract: what the numbers in an image array mean, decided by the array's dtype.

One rule for every image array cnnsvm reads (:class:`~cnnsvm.data.ImageDataset`,
the loaders, :class:`~cnnsvm.data.ImagePreprocessor`, :func:`~cnnsvm.data.prepare_image`):

- **integer** arrays (``uint8``, ``int64``, ...) hold pixels in 0..255;
- **float** arrays hold pixels scaled to [0, 1];
- **bool** arrays are read as floats (``True`` = 1.0, full intensity).

The dtype decides, never the values: a float image means the same thing alone or
in any batch. Arrays that break the rule (floats above 1, such as a float copy
of 0..255 images; integers above 255, such as 16-bit scans; NaN or infinite
values) are refused with a message that says what to pass instead.
"""

from __future__ import annotations

import numpy as np

from cnnsvm.exceptions import DataError

#: The contract in words, for messages and model metadata.
PIXEL_CONTRACT = "integer pixels 0..255, or float pixels in [0, 1]"

#: Float pixels this far outside [0, 1] are rounding noise and are clipped, not refused.
FLOAT_TOLERANCE = 1e-6


def check_pixels(images, *, name="images"):
    """Check an image array against the pixel contract.

    Parameters
    ----------
    images : array-like
        Pixels of any shape.
    name : str, default="images"
        How error messages name the array.

    Returns
    -------
    ndarray
        ``images`` as an array (not copied, not converted).

    Raises
    ------
    DataError
        If the dtype is not numeric, a float array holds NaN, infinite values or
        values outside [0, 1], or an integer array holds values outside 0..255.
    """
    images = np.asarray(images)
    kind = images.dtype.kind
    if kind == "b" or images.size == 0:
        return images
    if kind in "iu":
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise DataError(
                f"{name}: integer pixels must lie in 0..255, got {lo}..{hi}; pass 8-bit images "
                "(uint8, 0..255) or floats scaled to [0, 1] (for 16-bit images: divide by 65535.0)"
            )
        return images
    if kind == "f":
        if not np.isfinite(images).all():
            raise DataError(f"{name}: images contain NaN or infinite values; clean or drop those samples")
        lo, hi = float(images.min()), float(images.max())
        if lo < -FLOAT_TOLERANCE or hi > 1.0 + FLOAT_TOLERANCE:
            hint = (
                "divide them by 255, or pass them as integers (uint8, 0..255)"
                if lo >= 0 and hi <= 255
                else "rescale them to [0, 1]"
            )
            raise DataError(
                f"{name}: float pixels must lie in [0, 1], got {lo:g}..{hi:g}; float images are read as "
                f"scaled to [0, 1] whatever else is in the batch: {hint}"
            )
        return images
    raise DataError(f"{name}: pixels must be numbers ({PIXEL_CONTRACT}); got dtype {images.dtype}")


def to_unit_float(images, *, name="images"):
    """Return the pixels as a new float32 array scaled to [0, 1], following the contract.

    Integer pixels are divided by 255; float pixels are kept (clipped to [0, 1]).
    A float image equal to ``uint8_image / 255`` gives exactly the same result as
    the ``uint8`` image itself.
    """
    images = check_pixels(images, name=name)
    kind = images.dtype.kind
    if kind in "iu":
        out = images.astype(np.float32)
        out /= np.float32(255.0)  # in place: one float32 copy
        return out
    out = images.astype(np.float32)  # always a copy
    if kind == "f" and out.size:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def to_uint8(images, *, name="images"):
    """Return the pixels as uint8 0..255, following the contract.

    Integer pixels are kept; float pixels in [0, 1] are multiplied by 255 and
    rounded (a float image ``uint8_image / 255`` comes back unchanged).
    """
    images = check_pixels(images, name=name)
    kind = images.dtype.kind
    if images.dtype == np.uint8:
        return images
    if kind in "iu":
        return images.astype(np.uint8)
    scaled = np.rint(images.astype(np.float64) * 255.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)
