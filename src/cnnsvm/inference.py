"""Predicting free-form images (files, drawings) with an exported model.

Shared by ``cnnsvm predict`` and ``cnnsvm serve``: each image is put in the
training polarity, cropped to its ink, padded to the training images' framing,
resized, and classified with top-k probabilities and the reject option.
"""

from __future__ import annotations

import numpy as np

from cnnsvm.data.preprocessing import prepare_image
from cnnsvm.exceptions import DataError
from cnnsvm.pipeline import find_preprocessor


def prepare_for_model(model, images, *, ink="auto", crop=True):
    """Turn 2-D grayscale images of any size into the model's input images.

    Parameters
    ----------
    model : Pipeline
        A model from :func:`cnnsvm.pipeline.load` (its first step is an ImagePreprocessor).
    images : list of ndarray of shape (height, width)
        Pixels under the pixel contract: integers 0..255 or floats in [0, 1].
    ink : {"auto", "light", "dark"}
        Stroke polarity; ``"dark"`` (black on white) is inverted, ``"auto"`` guesses.
    crop : bool
        Crop to the ink and pad to the framing of the training images.

    Returns
    -------
    ndarray of float32, shape (n, height, width)
        In the shape and ink polarity of the training images, scaled to [0, 1].
    """
    prep = find_preprocessor(model)
    if prep is None:
        raise DataError("this model has no image preprocessing step; pass it arrays shaped like its training data")
    height, width = prep.input_shape_
    size = max(height, width)
    prepared = [
        prepare_image(img, size, ink=ink, crop=crop, fill_fraction=prep.fill_fraction_) for img in images
    ]
    batch = np.stack(prepared)
    if (height, width) != (size, size):  # non-square training images: centre-crop the padded square
        top, left = (size - height) // 2, (size - width) // 2
        batch = batch[:, top : top + height, left : left + width]
    if getattr(prep, "ink_", "light") == "dark":  # hand the model its training polarity
        batch = 1.0 - batch
    return batch


def model_view(model, batch):
    """The images exactly as the network sees them (after the pipeline's resizing), (n, s, s)."""
    prep = find_preprocessor(model)
    flat = prep.transform(batch)
    side = int(prep.image_size)
    return flat.reshape(len(flat), side, side)


def predict_images(model, images, *, class_names=None, ink="auto", crop=True, top_k=5, threshold=0.0):
    """Classify free-form images.

    Parameters
    ----------
    model : Pipeline with ``predict_proba``
    images : list of ndarray of shape (height, width)
    class_names : list of str, optional
        Display names ordered as ``model.classes_`` (the model file's sidecar has them).
    ink, crop : see :func:`prepare_for_model`.
    top_k : int, default=5
    threshold : float, default=0.0
        Reject option: below this top probability the answer is flagged ``rejected``.

    Returns
    -------
    list of dict
        Per image: ``label``, ``class_name``, ``probability``, ``rejected``,
        ``top`` (list of ``{label, class_name, probability}``) and ``model_input``
        (the 2-D float array the network saw).
    """
    if not images:
        raise DataError("no images to predict")
    batch = prepare_for_model(model, images, ink=ink, crop=crop)
    proba = model.predict_proba(batch)
    classes = np.asarray(model.classes_)
    names = list(class_names) if class_names is not None else [str(c) for c in classes]
    view = model_view(model, batch)
    results = []
    for row, seen in zip(proba, view):
        order = np.argsort(row)[::-1][: max(1, int(top_k))]
        top = [
            {"label": _plain(classes[i]), "class_name": names[i], "probability": float(row[i])}
            for i in order
        ]
        best = top[0]
        results.append(
            {
                "label": best["label"],
                "class_name": best["class_name"],
                "probability": best["probability"],
                "rejected": bool(best["probability"] < threshold),
                "top": top,
                "model_input": seen,
            }
        )
    return results


def _plain(value):
    return value.item() if hasattr(value, "item") else value
