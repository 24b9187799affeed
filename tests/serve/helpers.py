"""Drawing digits like a user would, as PNG bytes and data URLs, for the serve tests."""

import base64
import io

from PIL import Image, ImageDraw

CANVAS = 280

#: Strokes (lists of points on a 280x280 canvas) of digits the small test model reads right.
DIGIT_STROKES = {
    "1": [[(140, 40), (140, 240)]],
    "7": [[(70, 50), (210, 50), (110, 240)]],
    "0": [[(140, 40), (200, 80), (210, 160), (140, 240), (80, 160), (80, 80), (140, 40)]],
}


def draw_digit(digit, *, ink=255, background=0, mode="L", width=22):
    """A PIL image of ``digit`` drawn with thick strokes on a 280x280 canvas."""
    image = Image.new(mode, (CANVAS, CANVAS), background)
    pen = ImageDraw.Draw(image)
    for stroke in DIGIT_STROKES[digit]:
        pen.line(stroke, fill=ink, width=width, joint="curve")
    return image


def encode(image, fmt="PNG", **params):
    """The bytes of ``image`` saved in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def data_url(data, media_type="image/png"):
    """A base64 data URL of ``data``."""
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")
