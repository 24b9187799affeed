"""Spatial features for a set the extractor never saw: the embedding plus where the strokes are.

The embedding is the last hidden layer of a network trained to tell its own
classes apart; on a new script it keeps what separated those classes and loses
much of the rest. The convolutional blocks before it describe strokes, and where
they lie, more generically. ``FEATURES = "spatial"`` reads, beside the
embedding, the output of the last :data:`SPATIAL_BLOCKS` convolutional blocks
averaged over a :data:`GRID` x :data:`GRID` grid of cells (quadrants on the
default grid): for the default network on 28x28 images, 256 + 64 x 4 + 128 x 4
= 1,024 features.

Chosen on validation data only: NHCD consonants learned from 20 examples per
class on an extractor that never saw them (MNIST, NHCD numerals and vowels),
scored on images of the consonants' training part that were not drawn
(``benchmarks/results/fewshot_features.md``): the embedding alone 74.7 %, the
spatial features 82.5 % (84.4 % with augmented views of the examples). An
earlier probe on an MNIST-only extractor compared the layouts: the blocks'
global averages 80.7 %, the 2x2 grids of the last two blocks 85.9 %, against
74.5 % for the embedding.
"""

from __future__ import annotations

import keras

from cnnsvm.exceptions import ConfigError

#: What a frozen extractor hands on: the embedding alone, or with the blocks' grids.
FEATURES = ("embedding", "spatial")
#: Convolutional blocks read, counted from the last.
SPATIAL_BLOCKS = 2
#: Cells per side of the grid each block's output is averaged over.
GRID = 2


def check_features(features):
    """Validate a ``features`` parameter."""
    if features not in FEATURES:
        raise ConfigError(f"features must be one of {FEATURES}; got {features!r}")
    return features


def _block_outputs(network):
    """The outputs of the convolutional blocks (their pooling layers), first to last."""
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    return [layer.output for layer in network.layers if isinstance(layer, pools)]


def _grid_means(x, cells):
    """Mean of a feature map over each cell of a ``cells`` x ``cells`` grid, flattened.

    Cells split each axis at its middle; on an odd side the middle row (column)
    belongs to both halves. An axis shorter than ``cells`` is averaged whole.
    """
    height, width = int(x.shape[1]), int(x.shape[2])

    def bounds(side):
        if side < cells:
            return [(0, side)]
        return [((i * side) // cells, -(-(i + 1) * side // cells)) for i in range(cells)]

    parts = [
        keras.ops.mean(x[:, r0:r1, c0:c1, :], axis=(1, 2)) for r0, r1 in bounds(height) for c0, c1 in bounds(width)
    ]
    return keras.ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def spatial_model(network):
    """A model from the network's input to the embedding followed by the blocks' grid means.

    Parameters
    ----------
    network : keras.Model
        A network of :func:`cnnsvm.features.architectures.build_network`.

    Returns
    -------
    keras.Model
        Output ``(n_samples, n_embedding + sum over blocks of channels x cells)``,
        the embedding first (so its columns are those of ``transform``).
    """
    embedding = network.get_layer("embedding").output
    blocks = _block_outputs(network)[-SPATIAL_BLOCKS:]
    grids = [_grid_means(keras.ops.cast(x, "float32"), GRID) for x in blocks]  # means in float32
    return keras.Model(network.input, keras.ops.concatenate([embedding, *grids], axis=-1))


def spatial_feature_names(network):
    """``embedding0``, ..., then ``block{b}_cell{c}_ch{k}`` for each block read."""
    names = [f"embedding{i}" for i in range(int(network.get_layer("embedding").output.shape[-1]))]
    blocks = _block_outputs(network)
    first = len(blocks) - len(blocks[-SPATIAL_BLOCKS:])
    for b, x in enumerate(blocks[-SPATIAL_BLOCKS:], start=first + 1):
        height, width, channels = (int(s) for s in x.shape[1:])
        cells = (GRID if height >= GRID else 1) * (GRID if width >= GRID else 1)
        names += [f"block{b}_cell{c}_ch{k}" for c in range(cells) for k in range(channels)]
    return names
