"""On-the-fly data augmentation: Keras's affine preprocessing layers and an elastic distortion layer."""

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
#: Elastic distortion at strength 1.0 (Simard, Steinkraus and Platt, 2003): a displacement field of
#: uniform noise in [-1, 1] per pixel and axis, smoothed by a Gaussian of ``ELASTIC_SIGMA`` pixels and
#: scaled by ``BASE_ELASTIC_ALPHA`` (about 1.4 pixels of displacement, standard deviation, on 28x28).
#: The scale grows linearly with the strength; the smoothness stays.
BASE_ELASTIC_ALPHA = 34.0
ELASTIC_SIGMA = 4.0
#: The share of training images the elastic distortion is applied to (each image drawn on its own). With
#: every image distorted, an MNIST network's held-out accuracy fell from 96 % after the first epoch to 89 %
#: after the fifth while its training accuracy rose; with half of them it still drifted (98.1 % at best,
#: 94.9 % after the ninth epoch). Most of that drift is in the batch-normalisation statistics, which
#: follow the distorted images: on 6,000 validation images the kept weights read 98.25 % with them and
#: 99.23 % with statistics of clean images (one seed; benchmarks/results/selection.md, "MNIST: elastic
#: distortions"). No shipped experiment uses it.
ELASTIC_RATE = 0.5


class RandomElasticDistortion(layers.Layer):
    """Random elastic distortion of each image, active only in training.

    Every image gets its own displacement field, and the horizontal and
    vertical fields are drawn independently (``keras.layers.RandomElasticTransform``
    draws both from one seed, so its two fields are the same, and gives a whole
    batch one strength). The field is uniform noise in [-1, 1], smoothed by a
    normalised Gaussian of ``sigma`` pixels and scaled by ``alpha`` pixels;
    the image is resampled bilinearly at the displaced positions, with zeros
    (background) outside it. Each image is distorted with probability ``rate``
    and passed on as it is otherwise.

    Parameters
    ----------
    alpha : float, default=BASE_ELASTIC_ALPHA
        Scale of the displacement field, in pixels (at least 0).
    sigma : float, default=ELASTIC_SIGMA
        Standard deviation of the Gaussian smoothing, in pixels (above 0).
    rate : float, default=1.0
        Probability that an image is distorted.
    seed : int or None
        Seed of the layer's random draws.
    """

    def __init__(self, alpha=BASE_ELASTIC_ALPHA, sigma=ELASTIC_SIGMA, rate=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.sigma, self.rate = float(alpha), float(sigma), float(rate)
        if not (self.alpha >= 0 and self.sigma > 0 and 0 <= self.rate <= 1):
            raise ConfigError(
                f"an elastic distortion needs alpha >= 0, sigma > 0 and a rate in [0, 1]; "
                f"got alpha={alpha}, sigma={sigma}, rate={rate}"
            )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        radius = max(1, int(np.ceil(3 * self.sigma)))
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / self.sigma) ** 2)
        taps = (taps / taps.sum()).astype("float32")
        # Depthwise kernels that smooth both fields, along the rows and along the columns.
        self._along_x = np.tile(taps.reshape(1, -1, 1, 1), (1, 1, 2, 1))
        self._along_y = np.tile(taps.reshape(-1, 1, 1, 1), (1, 1, 2, 1))

    def call(self, images, training=False):
        if not training or self.alpha == 0 or self.rate == 0:
            return images
        x = keras.ops.cast(images, "float32")
        shape = keras.ops.shape(x)
        n, h, w = shape[0], shape[1], shape[2]
        noise = keras.random.uniform((n, h, w, 2), minval=-1.0, maxval=1.0, seed=self.seed_generator)
        field = keras.ops.depthwise_conv(noise, self._along_x, padding="same")
        field = self.alpha * keras.ops.depthwise_conv(field, self._along_y, padding="same")
        rows = keras.ops.cast(keras.ops.arange(h), "float32")[None, :, None] + field[..., 1]
        cols = keras.ops.cast(keras.ops.arange(w), "float32")[None, None, :] + field[..., 0]
        out = _bilinear(x, rows, cols)
        if self.rate < 1:
            chosen = keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator) < self.rate
            out = keras.ops.where(chosen, out, x)
        return keras.ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"alpha": self.alpha, "sigma": self.sigma, "rate": self.rate, "seed": self.seed}
        return {**super().get_config(), **config}


def _bilinear(images, rows, cols):
    """``images`` (n, h, w, c) sampled bilinearly at positions ``rows``, ``cols`` (n, h, w); zero outside.

    Written with ``keras.ops`` gathers: ``keras.ops.image.map_coordinates`` needs the batch size
    at trace time, which a training step does not have.
    """
    shape = keras.ops.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    flat = keras.ops.reshape(images, (-1, c))
    base = (keras.ops.arange(n) * h * w)[:, None, None]
    r0, c0 = keras.ops.floor(rows), keras.ops.floor(cols)
    out = 0.0
    for dr in (0, 1):
        for dc in (0, 1):
            r, q = r0 + dr, c0 + dc
            weight = (1.0 - keras.ops.abs(rows - r)) * (1.0 - keras.ops.abs(cols - q))
            inside = (r >= 0) & (r <= keras.ops.cast(h - 1, "float32")) & (q >= 0)
            inside = inside & (q <= keras.ops.cast(w - 1, "float32"))
            ri = keras.ops.clip(keras.ops.cast(r, "int32"), 0, h - 1)
            qi = keras.ops.clip(keras.ops.cast(q, "int32"), 0, w - 1)
            pixels = keras.ops.take(flat, keras.ops.reshape(base + ri * w + qi, (-1,)), axis=0)
            pixels = keras.ops.reshape(pixels, (n, h, w, c))
            out = out + (weight * keras.ops.cast(inside, "float32"))[..., None] * pixels
    return out


def build_augmentation(strength=1.0, seed=None, elastic=0.0):
    """Random rotation, zoom, shift and shear for light-ink images, and an optional elastic distortion.

    Parameters
    ----------
    strength : float, default=1.0
        Multiplies every range (rotation +-10 degrees, zoom +-10 %, shift +-10 %,
        shear 0.15 at 1.0). ``0`` turns augmentation off.
    seed : int or None
        Seed of the random layers. Each layer gets its own seed derived from it
        (:class:`numpy.random.SeedSequence`), so the four transforms are drawn
        independently of one another; ``None`` seeds each layer at random.
    elastic : float, default=0.0
        Strength of a :class:`RandomElasticDistortion` applied after the affine
        transforms to half of the images (``ELASTIC_RATE``; ``alpha`` = 34 pixels
        at 1.0, ``sigma`` = 4 pixels); ``0`` leaves it out. It takes the fifth
        seed derived from ``seed``, so the other four layers draw what they drew
        without it.

    Returns
    -------
    keras.Sequential or None
        Layers active only in training; ``None`` when ``strength`` and ``elastic`` are 0.
    """
    strength = _checked_strength(strength, "augmentation strength")
    elastic = _checked_strength(elastic, "elastic distortion strength")
    if strength == 0 and elastic == 0:
        return None
    fill = dict(fill_mode="constant", fill_value=0.0)
    # One seed per layer: layers built with the same seed draw the same random numbers, which
    # would tie the rotation angle, zoom factor, shift and shear of an image to one another.
    seeds = [None] * 5 if seed is None else [int(s) for s in layer_seeds(seed, 5)]
    steps = []
    if strength > 0:
        steps += [
            layers.RandomRotation(BASE_ROTATION_DEGREES * strength / 360.0, seed=seeds[0], **fill),
            layers.RandomZoom(BASE_ZOOM * strength, seed=seeds[1], **fill),
            layers.RandomTranslation(BASE_SHIFT * strength, BASE_SHIFT * strength, seed=seeds[2], **fill),
            layers.RandomShear(BASE_SHEAR * strength, BASE_SHEAR * strength, seed=seeds[3], **fill),
        ]
    if elastic > 0:
        steps.append(
            RandomElasticDistortion(BASE_ELASTIC_ALPHA * elastic, ELASTIC_SIGMA, rate=ELASTIC_RATE, seed=seeds[4])
        )
    return keras.Sequential(steps, name="augmentation")


def _checked_strength(value, what):
    value = float(value)
    if not 0 <= value <= 5:
        raise ConfigError(f"{what} must lie in [0, 5]; got {value}")
    return value


def layer_seeds(seed, n):
    """``n`` distinct, independent 31-bit seeds derived from ``seed``."""
    return np.random.SeedSequence(int(seed)).generate_state(n) >> 1
