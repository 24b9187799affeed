"""Read one image file (or an uploaded image's bytes) as a grayscale uint8 array.

Every reader here turns the ways an image can be unusable -- a missing file,
something that is not an image, a corrupt or truncated file, a decompression
bomb, a zero-size image -- into a :class:`~cnnsvm.exceptions.DataError` whose
message names the file and says what to do.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from cnnsvm.exceptions import DataError

#: Largest image (width * height) decoded by default: 4096 x 4096 pixels.
DEFAULT_MAX_PIXELS = 4096 * 4096

#: File extensions read as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def is_image_filename(name):
    """Tell whether a file name has one of :data:`IMAGE_EXTENSIONS` and is not hidden.

    Hidden files (``.DS_Store``, macOS ``._x.png`` resource forks) and other
    extensions (``Thumbs.db``, ``labels.csv``) are not images.
    """
    name = str(name)
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def read_image_file(path, max_pixels=DEFAULT_MAX_PIXELS):
    """Read an image file as a grayscale array.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, BMP, GIF (first frame) or any other format Pillow reads.
    max_pixels : int or None, default=DEFAULT_MAX_PIXELS
        Refuse images with more than this many pixels (width * height) before
        decoding them, as a guard against decompression bombs. ``None`` keeps
        only Pillow's own limit.

    Returns
    -------
    ndarray of uint8, shape (height, width)
        Grayscale pixels. Transparent images are composited onto white first.

    Raises
    ------
    DataError
        If the file is missing, is not a readable image, is corrupt or
        truncated, is too large, or has zero width or height.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"image file {path} does not exist; check the path")
    if not path.is_file():
        raise DataError(f"{path} is not a file; give the path of an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read image file {path}: {exc}; check its permissions") from exc
    return read_image_bytes(data, max_pixels=max_pixels, name=str(path))


def read_image_bytes(data, max_pixels=DEFAULT_MAX_PIXELS, name="uploaded image"):
    """Decode an image held in memory (an upload) as a grayscale array.

    Parameters
    ----------
    data : bytes
        The encoded image file.
    max_pixels : int or None, default=DEFAULT_MAX_PIXELS
        See :func:`read_image_file`.
    name : str, default="uploaded image"
        How error messages name the image (a file name, for instance).

    Returns
    -------
    ndarray of uint8, shape (height, width)

    Raises
    ------
    DataError
        As :func:`read_image_file`, and for empty data.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"{name}: expected the image's bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError(f"{name} is empty (0 bytes); give a PNG, JPEG, BMP or GIF image")
    return _decode(io.BytesIO(bytes(data)), name, max_pixels)


def _decode(stream, name, max_pixels):
    try:
        with Image.open(stream) as img:
            width, height = img.size
            if width <= 0 or height <= 0:
                raise DataError(f"{name} is a zero-size image ({width}x{height}); give an image with pixels")
            if max_pixels is not None and width * height > max_pixels:
                raise _too_large(name, width, height, max_pixels)
            img.load()  # decode now, so that corrupt and truncated files fail here
            return _to_gray(img)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name} is too large to decode safely ({exc}); give a smaller image") from exc
    except MemoryError as exc:
        raise DataError(f"{name} is too large to decode in memory; give a smaller image") from exc
    except Image.UnidentifiedImageError as exc:
        raise DataError(
            f"{name} is not a readable image (unknown format or invalid header); give a PNG, JPEG, BMP or GIF file"
        ) from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise DataError(
            f"{name} is corrupt or truncated and cannot be decoded ({type(exc).__name__}: {exc}); "
            "re-export or replace the file"
        ) from exc


def _too_large(name, width, height, max_pixels):
    return DataError(
        f"{name} is {width}x{height} = {width * height} pixels, more than the limit of "
        f"{max_pixels} (a possible decompression bomb); give a smaller image"
    )


def _to_gray(img):
    """Convert an opened Pillow image to a uint8 grayscale array.

    Transparent images are composited onto white in gray (the gray of a composite
    is the composite of the gray), pasting the gray through the alpha channel onto
    a white page: a 16-megapixel canvas drawing needs about 100 MB at its peak here
    (its decoded RGBA and gray-alpha copies) rather than 250 MB for a colour composite.
    """
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "F":
        return _wide_to_uint8(np.asarray(img), img.mode)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        if img.mode in ("RGBa", "La"):  # premultiplied: undo it first
            img = img.convert("RGBA")
        la = img.convert("LA")
        img.close()
        gray, alpha = la.split()
        la.close()
        page = Image.new("L", gray.size, 255)
        page.paste(gray, (0, 0), alpha)
        gray.close()
        alpha.close()
        return np.array(page, dtype=np.uint8)
    return np.array(img.convert("L"), dtype=np.uint8)


def _wide_to_uint8(pixels, mode):
    """Scale 16/32-bit integer or float pixels of an image file to 0..255.

    Unlike :func:`cnnsvm.data.pixels.to_uint8` (arrays, whose dtype fixes the
    scale), a file's mode does not say its range: float pixels up to 1 are scaled
    by 255, integers above 255 read as 16-bit, and NaN/inf are zeroed or clipped.
    """
    pixels = pixels.astype(np.float64)
    if not np.isfinite(pixels).all():
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=255.0, neginf=0.0)
    top = float(pixels.max()) if pixels.size else 0.0
    if mode == "F" and top <= 1.0:
        pixels = pixels * 255.0
    elif top > 255.0:
        pixels = pixels / 257.0  # 16-bit range 0..65535 onto 0..255
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
