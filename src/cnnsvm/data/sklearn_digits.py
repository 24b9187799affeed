"""The small 8x8 digits set that ships with scikit-learn (no download needed)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from cnnsvm.data.dataset import ImageDataset
from cnnsvm.data.pixels import to_uint8


def load_digits_dataset():
    """Load scikit-learn's handwritten digits as an :class:`ImageDataset`.

    The 1797 images are 8x8 with values 0..16; they are scaled to 0..255
    (``value * 255 / 16``, rounded).

    Returns
    -------
    ImageDataset
        Named ``"digits"``, classes ``"0"`` .. ``"9"``, light ink on a dark background.
    """
    bunch = load_digits()
    images = to_uint8(bunch.images / 16.0, name="digits")  # 0..16 -> [0, 1] -> the pixel contract's 0..255
    return ImageDataset(
        images=images,
        labels=bunch.target.astype(np.int64),
        class_names=[str(i) for i in range(10)],
        name="digits",
        ink="light",
        source="sklearn.datasets.load_digits",
    )
