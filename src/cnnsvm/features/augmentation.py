"""On-the-fly data augmentation with Keras preprocessing layers."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from cnnsvm.exceptions import ConfigError

#: Transform ranges at strength 1.0; they scale linearly with the strength.
BASE_ROTATION_DEGREES = 10.0
BASE_ZOOM = 0.10
BASE_SHIFT = 0.10
BASE_SHEAR = 0.15


def build_augmentation(strength=1.0, seed=None):
    """Random rotation, zoom, shift and shear for light-ink images.

    Parameters
    ----------
    strength : float, default=1.0
        Multiplies every range (rotation +-10 degrees, zoom +-10 %, shift +-10 %,
        shear 0.15 at 1.0). ``0`` turns augmentation off.
    seed : int or None
        Seed of the random layers. Each layer gets its own seed derived from it
        (:class:`numpy.random.SeedSequence`), so the four transforms are drawn
        independently of one another; ``None`` seeds each layer at random.

    Returns
    -------
    keras.Sequential or None
        Layers active only in training; ``None`` when ``strength`` is 0.
    """
    strength = float(strength)
    if strength < 0 or strength > 5:
        raise ConfigError(f"augmentation strength must lie in [0, 5]; got {strength}")
    if strength == 0:
        return None
    fill = dict(fill_mode="constant", fill_value=0.0)
    # One seed per layer: layers built with the same seed draw the same random numbers, which
    # would tie the rotation angle, zoom factor, shift and shear of an image to one another.
    seeds = [None] * 4 if seed is None else [int(s) for s in layer_seeds(seed, 4)]
    return keras.Sequential(
        [
            layers.RandomRotation(BASE_ROTATION_DEGREES * strength / 360.0, seed=seeds[0], **fill),
            layers.RandomZoom(BASE_ZOOM * strength, seed=seeds[1], **fill),
            layers.RandomTranslation(BASE_SHIFT * strength, BASE_SHIFT * strength, seed=seeds[2], **fill),
            layers.RandomShear(BASE_SHEAR * strength, BASE_SHEAR * strength, seed=seeds[3], **fill),
        ],
        name="augmentation",
    )


def layer_seeds(seed, n):
    """``n`` distinct, independent 31-bit seeds derived from ``seed``."""
    return np.random.SeedSequence(int(seed)).generate_state(n) >> 1
