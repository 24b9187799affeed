"""Predicting images with an exported model, with top-k probabilities and the reject option.

Shared by ``cnnsvm predict`` and ``cnnsvm serve``. Two kinds of input:

- free-form images (files, drawings; :func:`predict_images`): each is put in the
  training polarity, cropped to its ink, padded to the training images' recorded
  framing (``fill_fraction_``) and resized;
- in-distribution arrays (:func:`predict_arrays`): images of the trained size, such
  as a Kaggle test CSV for a model trained on its train CSV, go to the model as they
  are, so the answers are exactly ``model.predict``'s.

A rejected answer carries no class: its ``label`` and ``class_name`` are ``None``
(its ``top`` list still shows what the model hesitated between).
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from cnnsvm._json import to_jsonable
from cnnsvm.classifiers.selective import residual_within
from cnnsvm.data.pixels import check_pixels
from cnnsvm.data.preprocessing import prepare_image
from cnnsvm.exceptions import DataError
from cnnsvm.ink import INK_CHOICES
from cnnsvm.model_structure import find_preprocessor


def prepare_for_model(model, images, *, ink="auto", crop=True):
    """Turn 2-D grayscale images of any size into the model's input images.

    Parameters
    ----------
    model : Pipeline
        A model from :func:`cnnsvm.persistence.load` (its first step is an ImagePreprocessor).
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
    prepared = [prepare_image(img, size, ink=ink, crop=crop, fill_fraction=prep.fill_fraction_) for img in images]
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


def predict_images(
    model, images, *, class_names=None, ink="auto", crop=True, top_k=5, threshold=0.0, include_model_input=True
):
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
        Reject option: below this top probability the answer is rejected.
    include_model_input : bool, default=True
        Add ``model_input`` (the 2-D float array the network saw) to each result.

    Returns
    -------
    list of dict
        Per image: ``label`` and ``class_name`` (``None`` when rejected),
        ``probability`` (of the best class), ``rejected``, ``top`` (list of
        ``{label, class_name, probability}``) and ``model_input``.
    """
    if not images:
        raise DataError("no images to predict")
    batch = prepare_for_model(model, images, ink=ink, crop=crop)
    return _results(model, batch, class_names, top_k, threshold, include_model_input)


def is_model_shaped(model, images):
    """Tell whether ``images`` (an array) have the shape of the model's training images."""
    prep = find_preprocessor(model)
    images = np.asarray(images)
    return prep is not None and images.ndim == 3 and tuple(images.shape[1:]) == tuple(prep.input_shape_)


def predict_arrays(model, images, *, class_names=None, ink="auto", top_k=5, threshold=0.0, include_model_input=False):
    """Classify images of the model's training size as they are: the labels are exactly ``model.predict``'s.

    Parameters
    ----------
    model : Pipeline with ``predict_proba``
    images : ndarray of shape (n_samples, height, width)
        The training images' height and width; pixels under the pixel contract.
    ink : {"auto", "light", "dark"}, default="auto"
        ``"auto"`` leaves polarity to the model (as ``model.predict`` does); a stated
        polarity other than the training one is inverted first.
    class_names, top_k, threshold, include_model_input
        See :func:`predict_images`.

    Returns
    -------
    list of dict
        As :func:`predict_images`.
    """
    prep = find_preprocessor(model)
    if not is_model_shaped(model, images):
        shape = np.asarray(images).shape
        raise DataError(
            f"images of shape {shape} are not shaped like this model's training images "
            f"{getattr(prep, 'input_shape_', None)}; use predict_images for free-form images"
        )
    if ink not in INK_CHOICES:
        raise DataError(f"ink must be 'auto', 'light' or 'dark'; got {ink!r}")
    images = check_pixels(images)
    if ink != "auto" and ink != getattr(prep, "ink_", "light"):
        images = (255 - images) if images.dtype.kind in "iu" else (1.0 - images)
    return _results(model, images, class_names, top_k, threshold, include_model_input)


def _predict_and_proba(model, batch):
    """``model.predict`` and ``model.predict_proba`` of ``batch``, running the feature steps once."""
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        features = model[:-1].transform(batch)
        final = model.steps[-1][1]
        return np.asarray(final.predict(features)), np.asarray(final.predict_proba(features))
    return np.asarray(model.predict(batch)), np.asarray(model.predict_proba(batch))


def _results(model, batch, class_names, top_k, threshold, include_model_input):
    labels, proba = _predict_and_proba(model, batch)
    classes = np.asarray(model.classes_)
    names = list(class_names) if class_names is not None else [str(c) for c in classes]
    index = {to_jsonable(c): i for i, c in enumerate(classes)}
    view = model_view(model, batch) if include_model_input else [None] * len(batch)
    results = []
    for label, row, seen in zip(labels, proba, view, strict=True):
        order = np.argsort(row)[::-1][: max(1, int(top_k))]
        top = [{"label": to_jsonable(classes[i]), "class_name": names[i], "probability": float(row[i])} for i in order]
        chosen = index[to_jsonable(label)]
        probability = float(row[chosen])
        # 1 - probability as the other classes' sum: exact where the probability rounds to 1.0
        rejected = not bool(residual_within(np.delete(row, chosen).sum(), threshold))
        result = {
            "label": None if rejected else to_jsonable(label),
            "class_name": None if rejected else names[chosen],
            "probability": probability,
            "rejected": rejected,
            "top": top,
        }
        if include_model_input:
            result["model_input"] = seen
        results.append(result)
    return results
