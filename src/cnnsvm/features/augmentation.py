"""On-the-fly data augmentation with Keras preprocessing layers."""

from __future__ import annotations

import keras
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
        Seed of the random layers.

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
    return keras.Sequential(
        [
            layers.RandomRotation(BASE_ROTATION_DEGREES * strength / 360.0, seed=seed, **fill),
            layers.RandomZoom(BASE_ZOOM * strength, seed=seed, **fill),
            layers.RandomTranslation(BASE_SHIFT * strength, BASE_SHIFT * strength, seed=seed, **fill),
            layers.RandomShear(BASE_SHEAR * strength, BASE_SHEAR * strength, seed=seed, **fill),
        ],
        name="augmentation",
    )
