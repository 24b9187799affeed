"""Join several labelled image sets into one with the union of their classes."""

from __future__ import annotations

import numpy as np

from cnnsvm.data.dataset import ImageDataset, duplicate_names
from cnnsvm.data.preprocessing import resize_batch
from cnnsvm.exceptions import DataError


def combine_datasets(datasets, name="combined"):
    """Combine datasets into one, each keeping its own classes.

    Parameters
    ----------
    datasets : sequence of ImageDataset
        Sets with distinct names. Each is converted to light ink; the labels of
        the i-th set are offset by the number of classes of the sets before it.
    name : str, default="combined"
        Name of the combined set.

    Returns
    -------
    ImageDataset
        Light ink; class names ``f"{ds.name}/{class_name}"``. If image sizes
        differ, every image is resized (aspect kept, padded) to a square whose
        side is the largest side of all. ``extra["parts"]`` lists
        ``(dataset name, label offset, n_classes)`` per set.

    Raises
    ------
    DataError
        If no dataset is given, an item is not an :class:`ImageDataset`, or two
        datasets share a name.
    """
    datasets = list(datasets)
    if not datasets:
        raise DataError("combine_datasets needs at least one dataset; got none")
    for ds in datasets:
        if not isinstance(ds, ImageDataset):
            raise DataError(
                f"combine_datasets takes ImageDataset objects, got {type(ds).__name__}; "
                "for a DatasetSplit combine its .train and .test separately"
            )
    duplicates = duplicate_names(ds.name for ds in datasets)
    if duplicates:
        raise DataError(
            f"datasets to combine share the name(s) {', '.join(duplicates)}; give each a distinct "
            "name (the spec option ?name=...) so their classes can be told apart"
        )
    light = [ds.with_light_ink() for ds in datasets]
    shapes = {ds.image_shape for ds in light}
    if len(shapes) == 1:
        images = [ds.images for ds in light]
    else:
        side = max(max(shape) for shape in shapes)
        images = [
            np.clip(np.rint(resize_batch(ds.images.astype(np.float32), side)), 0, 255).astype(np.uint8) for ds in light
        ]
    labels, class_names, parts = [], [], []
    offset = 0
    for ds in light:
        labels.append(ds.labels + offset)
        class_names.extend(f"{ds.name}/{c}" for c in ds.class_names)
        parts.append((ds.name, offset, ds.n_classes))
        offset += ds.n_classes
    return ImageDataset(
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        class_names=class_names,
        name=name,
        ink="light",
        source=" + ".join(ds.source or ds.name for ds in light),
        extra={"parts": parts},
    )
